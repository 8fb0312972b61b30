"""Training losses by name: importing this package registers every loss of the four papers
(``ce``, ``maxent``, ``madry``, ``trades``, ``limeref``, ``gradient_alignment``, ``hessian``, ``atex``, ``iga``, ``sep``)."""

from . import adversarial, aga, atex, ce, iga, limeref, sep  # noqa: F401 - each registers its losses
from .registry import TRAINING_LOSSES, LossFn, get_loss, recording_parts, register_loss, report_part

__all__ = ["TRAINING_LOSSES", "LossFn", "get_loss", "recording_parts", "register_loss", "report_part"]

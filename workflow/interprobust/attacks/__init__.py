"""L-infinity evasion attacks and accuracy under attack, one module per attack (as torchattacks).

:class:`FGSM` (Goodfellow et al. 2015), :class:`PGD` (Madry et al. 2018; CE or the DLR loss of Croce &
Hein 2020) and :class:`APGD` (Auto-PGD, Croce & Hein 2020, Algorithm 1; CE or DLR loss) and the gradient-free
:class:`Square` (Andriushchenko et al. 2020). ``ATTACKS`` maps names to
classes and :func:`make_attack` builds one by name. :func:`robust_accuracy` and
:func:`clean_accuracy` evaluate a model on tensors or prepared uint8 (N, H, W, C) arrays. The
conventions are in :mod:`.base`. The targeted explanation attack is
:class:`interprobust.explain.manipulation.ExplanationAttack` (no drop-in evasion attack).
"""

from .base import ATTACKS, LOSSES, Attack, dlr_loss, kl_loss, make_attack, register_attack
from .fgsm import FGSM
from .pgd import PGD
from .apgd import APGD, apgd_checkpoints
from .square import Square, square_p
from .accuracy import clean_accuracy, robust_accuracy, robust_correct

__all__ = ["Attack", "FGSM", "PGD", "APGD", "Square", "square_p", "ATTACKS", "LOSSES", "make_attack", "register_attack", "robust_accuracy", "robust_correct",
           "clean_accuracy", "dlr_loss", "kl_loss", "apgd_checkpoints"]

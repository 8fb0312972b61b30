"""The foundation's model evaluation: accuracy clean, under attack and on corrupted test sets."""

from .corruptions import corruption_accuracy, corruption_attack_accuracy
from .robustness import robustness, subset

__all__ = ["robustness", "subset", "corruption_accuracy", "corruption_attack_accuracy"]

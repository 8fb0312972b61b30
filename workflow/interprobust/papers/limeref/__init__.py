"""LIMEREF: spurious-feature detection with LIME and refined training."""

"""Per-paper experiment code: one subpackage per paper (and the cross-paper matrix)."""

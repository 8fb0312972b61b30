"""Per-paper helpers that are pure Python (no torch): shared by the config resolver and the reports."""

"""SEP helpers that are pure Python (no torch)."""

"""The cross-paper matrix: every model under every metric."""

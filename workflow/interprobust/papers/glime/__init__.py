"""glime."""

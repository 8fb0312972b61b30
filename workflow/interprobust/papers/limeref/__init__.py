"""limeref."""

"""SEP: smoothed explanations, the representative pairs and their evaluation."""

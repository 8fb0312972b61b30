"""AGA: adversarial gradient alignment, its evaluation and the 2-D toy experiment."""

"""G-LIME: global priors for LIME, its evaluation study."""

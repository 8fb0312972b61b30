"""Explanation methods, written once for every paper: LIME (grid or superpixel features), G-LIME
(global priors, modified ElasticNet path) and gradient-based attributions (Gradient, Input x Gradient,
Guided Backprop, LRP, Integrated Gradients, SmoothGrad)."""

from .attributions import ATTRIBUTIONS, attribute, attribution_names, heatmap, normalize_sum
from .glime import GLime, GLimeResult, elastic_net_path, global_prior
from .lime import Lime, LimeResult, fit_surrogate, grid_segments, kernel_weights, sample_masks, superpixels

__all__ = ["GLime", "GLimeResult", "elastic_net_path", "global_prior", "ATTRIBUTIONS", "attribute", "attribution_names", "heatmap", "normalize_sum",
           "Lime", "LimeResult", "fit_surrogate", "grid_segments", "kernel_weights", "sample_masks",
           "superpixels"]

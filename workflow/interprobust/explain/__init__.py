"""Explanation methods, written once for every paper: LIME (grid or superpixel features), G-LIME
(global priors, modified ElasticNet path), gradient-based attributions (Gradient, Input x Gradient,
Guided Backprop, LRP, Integrated Gradients, SmoothGrad, Grad-CAM), the normalised explanation map
(:mod:`.maps`) and the targeted explanation attack (:mod:`.manipulation`, imported on its own)."""

from .attributions import ATTRIBUTIONS, attribute
from .glime import GLime, GLimeResult, elastic_net_path, global_prior
from .lime import Lime, LimeResult, fit_surrogate, grid_segments, kernel_weights, sample_masks, superpixels
from .maps import NORMALIZATIONS, explanation_loss, explanation_map, heatmap

__all__ = ["GLime", "GLimeResult", "elastic_net_path", "global_prior", "ATTRIBUTIONS", "attribute",
           "NORMALIZATIONS", "explanation_loss", "explanation_map", "heatmap",
           "Lime", "LimeResult", "fit_surrogate", "grid_segments", "kernel_weights", "sample_masks",
           "superpixels"]

"""Explanation methods, written once for every paper: LIME (grid or superpixel features) here;
gradient-based attributions join this package as they are built."""

from .lime import Lime, LimeResult, fit_surrogate, grid_segments, kernel_weights, sample_masks, superpixels

__all__ = ["Lime", "LimeResult", "fit_surrogate", "grid_segments", "kernel_weights", "sample_masks",
           "superpixels"]

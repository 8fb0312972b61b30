"""Models: the architectures of the four papers (:mod:`.architectures`) and saved models (:mod:`.store`)."""

from ..nn import ACTIVATIONS, make_activation, swap_activations
from .architectures import (ARCHITECTURES, TORCHVISION_ARCHITECTURES, BasicBlock, InvertedResidual, Normalize,
                            PretrainedWeightsMissing, RepeatChannels, TorchvisionClassifier, WideBasicBlock,
                            build_for_data, build_from_signature, build_model, model_signature, pretrained_weights_path)
from .store import load_model, resolve_device, save_model, versions

__all__ = ["ACTIVATIONS", "ARCHITECTURES", "TORCHVISION_ARCHITECTURES", "BasicBlock", "InvertedResidual",
           "Normalize", "PretrainedWeightsMissing", "RepeatChannels", "TorchvisionClassifier", "WideBasicBlock",
           "build_for_data", "build_from_signature", "build_model", "model_signature", "pretrained_weights_path", "make_activation",
           "swap_activations", "load_model", "resolve_device", "save_model", "versions"]

"""Saved models: weights plus the metadata needed to rebuild, audit and cite them."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch

from ..io import torch_save
from .architectures import build_from_signature


def versions() -> dict[str, str]:
    import numpy
    import sklearn
    from .. import __version__
    return {"interprobust": __version__, "torch": str(torch.__version__), "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def save_model(path: str | Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    """Write {state_dict, meta} atomically; ``meta['signature']`` must rebuild the architecture."""
    if "signature" not in meta:
        raise ValueError("meta needs a 'signature' (interprobust.models.model_signature(...)) to rebuild the model")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # plain JSON types only, so torch.load(weights_only=True) reads it back
    meta = json.loads(json.dumps(meta, default=str))
    torch_save({"state_dict": state, "meta": meta}, path)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild and load a saved model in eval mode (``weights_only=True``: no code runs on load)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    # the saved state overwrites every weight: never read pretrained weights from the hub cache again
    model = build_from_signature({**blob["meta"]["signature"], "pretrained": False})
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval(), blob["meta"]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` = CUDA when present, else CPU; an explicit ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available; set device: auto or cpu")
    return torch.device(name)

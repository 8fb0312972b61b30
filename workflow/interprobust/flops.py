"""FLOPs and saved-tensor memory of one image through a model, per kind of pass, measured on the real ops.

For each (architecture, input shape, classes, model options) :func:`measure` runs, on the ``meta``
device (shapes only: no arithmetic, a second for the largest network), the passes the jobs are made
of, under torch's ``FlopCounterMode`` (matmuls and convolutions, 2 FLOPs per multiply-add, their
backward and double-backward ops included as they are dispatched):

``forward``      one forward pass, no graph;
``train``        a first-order training step: forward + CE backward into the weights (and inputs);
``input_grad``   an attack step: forward + backward to the input only (FGSM / PGD / a saliency map);
``double``       an explanation-attack step (SEP, Dombrowski et al.): the input-x-gradient map with its
                 graph, a loss on it, and the backward of that to the input (double backprop);
``double_train`` a double-backprop training step (gradient alignment, Hessian norm, SEP's flatness,
                 LIMEREF's sensitivity): forward, input gradient with its graph, backward into the weights.
``attack``       one step of the pipeline's own SEP attack (``ExplanationAttack.dombrowski`` with the
                 input x gradient map, as ``papers/sep/evaluate.py`` builds it): the FLOPs of a
                 2-step run minus a 1-step run, on a CPU (it reads values: no meta device).

The multipliers over ``forward`` are thus counted, not assumed. ``saved_<kind>`` is the bytes autograd
keeps per image for that step (``saved_tensors_hooks``; batch 2 minus batch 1, so the weights it also
saves are not counted per image): the step's activation memory per image.

``resources/flops.json`` holds the measurements for every model the paper-scale DAG trains (written by
``interprobust flop-table``, which adds what it lacks; ``tests/test_flops.py`` checks entries against a fresh measurement);
:func:`per_image` reads it and measures what it lacks (the embedded widths) lazily.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TABLE_PATH = Path(__file__).parent / "resources" / "flops.json"
KINDS = ("forward", "train", "input_grad", "double", "double_train")   # measured on the meta device


def count_flops(fn) -> float:
    """FLOPs of ``fn()``: torch's FlopCounterMode formulas (``flop_registry``) over every dispatched op,
    without its module tracking (which rejects ``autograd.grad`` on a leaf, as the attacks call it)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    with Counter() as counter:
        fn()
    return float(counter.total)


def attack_step_flops(model, channels: int, size: int, steps: int = 2) -> float:
    """FLOPs per image of one step of SEP's explanation attack on ``model`` (a CPU model)."""
    import torch

    from .explain.manipulation import ExplanationAttack
    g = torch.Generator().manual_seed(0)
    x, t = torch.rand(1, channels, size, size, generator=g), torch.rand(1, size, size, generator=g)
    model.eval()
    runs = [count_flops(lambda k=k: ExplanationAttack.dombrowski(8 / 255, steps=k).run(model, x, target_map=t))
            for k in (steps - 1, steps)]
    return runs[1] - runs[0]
MODEL_OPTIONS = ("width",)   # what changes FLOPs and saved bytes (an activation changes neither)


def key(arch: str, channels: int, size: int, classes: int, options: dict | None = None) -> str:
    opts = {k: v for k, v in sorted((options or {}).items()) if k in MODEL_OPTIONS}
    return f"{arch}|{channels}x{size}x{size}|{classes}|{json.dumps(opts, sort_keys=True)}"


def measure(arch: str, channels: int, size: int, classes: int, options: dict | None = None) -> dict[str, float]:
    """FLOPs and saved bytes per image of each kind of pass (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    from .models import build_model
    opts = {k: v for k, v in (options or {}).items() if k in MODEL_OPTIONS}
    model = build_model(arch, num_classes=classes, in_channels=channels, image_size=size,
                        mean=[0.5] * channels, std=[0.5] * channels, **opts)
    attack = attack_step_flops(model, channels, size)
    model = model.to("meta").train()   # the training-mode graph (BatchNorm on batch statistics) is the larger one

    def run(kind: str, b: int) -> None:
        x = torch.zeros(b, channels, size, size, device="meta", requires_grad=kind != "forward")
        y = torch.zeros(b, dtype=torch.long, device="meta")
        if kind == "forward":
            with torch.no_grad():
                model(x)
        elif kind == "train":
            F.cross_entropy(model(x.detach()), y).backward()
        elif kind == "input_grad":   # (backward(inputs=...): torch's FLOP counter rejects autograd.grad)
            F.cross_entropy(model(x), y).backward(inputs=[x])
        elif kind == "double":
            model(x).gather(1, y[:, None]).sum().backward(inputs=[x], create_graph=True)
            g, x.grad = x.grad, None
            (g * x).pow(2).sum().backward(inputs=[x])
        elif kind == "double_train":
            logits = model(x)
            logits.gather(1, y[:, None]).sum().backward(inputs=[x], create_graph=True)
            g, x.grad = x.grad, None
            (F.cross_entropy(logits, y) + g.pow(2).sum()).backward()
        model.zero_grad(set_to_none=True)

    import warnings
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
    out = {}
    for kind in KINDS:
        out[kind] = count_flops(lambda kind=kind: run(kind, 1))
        saved = []
        for b in (1, 2):
            total = [0]

            def pack(t, total=total):
                total[0] += t.numel() * t.element_size()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                run(kind, b)
            saved.append(total[0])
        out[f"saved_{kind}"] = float(max(saved[1] - saved[0], 0))
    out["attack"] = attack
    out["params"] = float(sum(p.numel() for p in model.parameters()))
    return out


@lru_cache(maxsize=1)
def table() -> dict[str, dict[str, float]]:
    return json.loads(TABLE_PATH.read_text()) if TABLE_PATH.exists() else {}


@lru_cache(maxsize=None)
def _measured(k: str, arch: str, channels: int, size: int, classes: int, options: str) -> dict[str, float]:
    return table().get(k) or measure(arch, channels, size, classes, json.loads(options))


def per_image(arch: str, channels: int, size: int, classes: int, options: dict | None = None) -> dict[str, float]:
    """The table's entry for this model, or a fresh measurement (cached) when it has none."""
    k = key(arch, channels, size, classes, options)
    opts = json.dumps({kk: v for kk, v in (options or {}).items() if kk in MODEL_OPTIONS}, sort_keys=True)
    return _measured(k, arch, channels, size, classes, opts)

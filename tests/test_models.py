import hashlib
import json

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from interprobust import models as M
from interprobust.models import architectures

OURS = ["resnet18", "convnet", "lenet", "wrn28", "mobilenetv2"]
TV = list(M.TORCHVISION_ARCHITECTURES)
GREY28 = dict(in_channels=1, image_size=28, mean=[0.13], std=[0.31])
RGB32 = dict(in_channels=3, image_size=32, mean=[0.49, 0.48, 0.45], std=[0.25, 0.24, 0.26])
RGB64 = dict(in_channels=3, image_size=64, mean=[0.48, 0.45, 0.40], std=[0.28, 0.27, 0.28])
ACTIVATION_TYPES = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Softplus, nn.GELU, nn.ELU, nn.LeakyReLU, nn.Tanh, nn.Hardswish)


def _count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def _build(arch, data, seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault("width", 0.125)
    return M.build_model(arch, num_classes=7, **data, **kw)


def _x(data, b=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    s = data["image_size"]
    return torch.rand(b, data["in_channels"], s, s, generator=g)


class _CountNonlinearities(TorchFunctionMode):
    """Counts every call of a pointwise non-linearity (module or functional) during a forward pass."""
    NAMES = {"relu", "relu_", "relu6", "hardtanh", "hardtanh_", "softplus", "silu", "gelu", "elu", "leaky_relu",
             "sigmoid", "tanh", "hardswish", "mish"}

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.NAMES:
            self.calls += 1
        return func(*args, **(kwargs or {}))


CASES = [(a, act, d) for a in OURS for act in M.ACTIVATIONS for d in ("grey28", "rgb32")]
CASES += [("resnet18", act, "rgb64") for act in M.ACTIVATIONS]
DATA = {"grey28": GREY28, "rgb32": RGB32, "rgb64": RGB64}


@pytest.mark.parametrize("arch,activation,data", CASES)
def test_our_architectures(arch, activation, data):
    d = DATA[data]
    model = _build(arch, d, activation=activation)
    x = _x(d).requires_grad_(True)

    # forward shape, finite non-zero input gradients (train mode: BatchNorm uses batch statistics)
    out = model(x)
    assert out.shape == (3, 7)
    out[:, 0].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

    # the first module is Normalize with the given statistics
    first = next(iter(model.children()))
    assert isinstance(first, M.Normalize)
    assert torch.allclose(first.mean.flatten(), torch.tensor(d["mean"]))
    assert torch.allclose(first.std.flatten(), torch.tensor(d["std"]))

    # activations: only the requested kind, as modules, each module instance used once, and no
    # functional non-linearity outside them
    acts = [m for m in model.modules() if isinstance(m, ACTIVATION_TYPES)]
    want = nn.ReLU if activation == "relu" else nn.Softplus
    assert acts and all(type(m) is want for m in acts)
    if activation == "softplus":
        assert all(m.beta == 3.0 for m in acts)
    else:
        assert not any(m.inplace for m in acts)
    calls = {id(m): 0 for m in acts}
    hooks = [m.register_forward_hook(lambda mod, i, o: calls.__setitem__(id(mod), calls[id(mod)] + 1)) for m in acts]
    model.eval()
    with torch.no_grad(), _CountNonlinearities() as counter:
        y = model(x)
    for h in hooks:
        h.remove()
    assert set(calls.values()) == {1}, "an activation module is unused or used twice"
    assert counter.calls == len(acts), "a functional non-linearity hides outside the activation modules"

    # features / classifier consistency (eval mode: deterministic)
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 7
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears[-1] is model.classifier
    with torch.no_grad():
        f = model.features(x)
        assert f.ndim == 2 and f.shape[1] == model.classifier.in_features
        assert torch.equal(model.classifier(f), y)


@pytest.mark.parametrize("arch", OURS)
def test_normalisation_is_applied(arch):
    model = _build(arch, RGB32).eval()
    x = _x(RGB32)
    norm = model.normalize
    assert torch.allclose(norm(x), (x - torch.tensor(RGB32["mean"]).view(1, 3, 1, 1))
                          / torch.tensor(RGB32["std"]).view(1, 3, 1, 1))
    with torch.no_grad():
        before = model(x)
        norm.mean += 0.2
        after = model(x)
        # shifting the mean by 0.2 is the same as shifting the input by -0.2
        norm.mean -= 0.2
        shifted = model(x - 0.2)
    assert not torch.allclose(before, after)
    assert torch.allclose(after, shifted, atol=1e-5)
    # the statistics are buffers: saved with the state dict
    assert {"normalize.mean", "normalize.std"} <= set(model.state_dict())


@pytest.mark.parametrize("arch", OURS)
def test_width_reduces_parameters(arch):
    sizes = [_count_parameters(_build(arch, RGB32, width=w)) for w in (0.125, 0.25, 0.5)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_tiny_width_keeps_one_channel_per_layer():
    model = _build("convnet", GREY28, width=0.001)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.out_channels == 1 for c in convs)
    assert model(_x(GREY28)).shape == (3, 7)


def test_architecture_details():
    # resnet18: CIFAR stem up to 64 px, ImageNet stem (7x7/2 + max-pool) above
    small, large = _build("resnet18", RGB64), _build("resnet18", dict(RGB64, image_size=96))
    assert small.stem[0].kernel_size == (3, 3) and small.stem[0].stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in small.modules())
    assert large.stem[0].kernel_size == (7, 7) and large.stem[0].stride == (2, 2)
    assert isinstance(large.stem[-1], nn.MaxPool2d)
    assert large(_x(dict(RGB64, image_size=96), b=2)).shape == (2, 7)
    # paper sizes: ResNet-18 CIFAR 11.17 M parameters, WRN-28-10 36.48 M, AGA's LeNet FC 4096 -> 256 -> 10
    lenet = M.build_model("lenet", num_classes=10, width=1.0, **RGB32)
    fcs = [m for m in lenet.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in fcs] == [(4096, 256), (256, 10)]
    assert [c.out_channels for c in lenet.modules() if isinstance(c, nn.Conv2d)] == [32, 32, 64, 64]
    convnet = M.build_model("convnet", num_classes=10, width=1.0, **RGB32)
    assert [c.out_channels for c in convnet.modules() if isinstance(c, nn.Conv2d)] == [64, 64, 64]
    assert sum(isinstance(m, nn.Linear) for m in convnet.modules()) == 1
    wrn = M.build_model("wrn28", num_classes=10, width=1.0, **RGB32)
    assert _count_parameters(wrn) == 36_479_194
    assert sum(isinstance(m, nn.Conv2d) for m in wrn.modules()) == 25 + 3  # 1 + 3*4*2 convs + 3 shortcuts
    assert wrn.classifier.in_features == 640
    # mobilenetv2: small inputs keep resolution through the stem and the first two stride-2 stages
    mob = _build("mobilenetv2", RGB32)
    strides = [m.stride[0] for m in mob.modules() if isinstance(m, nn.Conv2d) and m.stride[0] == 2]
    assert len(strides) == 2
    hw = {}
    mob.blocks.register_forward_hook(lambda m, i, o: hw.update(blocks=o.shape[-1]))
    mob(_x(RGB32))
    assert hw["blocks"] == 8
    assert _count_parameters(M.build_model("mobilenetv2", num_classes=10, width=1.0, **RGB32)) == 2_236_682


def test_resnet18_param_count_matches_reference():
    assert _count_parameters(M.build_model("resnet18", num_classes=10, width=1.0, **RGB32)) == 11_173_962


@pytest.mark.parametrize("arch", OURS)
def test_signature_round_trip(arch):
    sig = M.model_signature(arch=arch, num_classes=7, width=0.125, activation="softplus", softplus_beta=5, **GREY28)
    sig = json.loads(json.dumps(sig))  # JSON-able
    assert sig["arch"] == arch and sig["width"] == 0.125 and sig["softplus_beta"] == 5.0
    torch.manual_seed(0)
    a = M.build_from_signature(sig)
    torch.manual_seed(1)
    b = M.build_from_signature(sig)
    assert [(n, type(m)) for n, m in a.named_modules()] == [(n, type(m)) for n, m in b.named_modules()]
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    b.load_state_dict(a.state_dict(), strict=True)
    a.eval(), b.eval()
    x = _x(GREY28)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    assert all(m.beta == 5.0 for m in b.modules() if isinstance(m, nn.Softplus))


def test_signature_accepts_square_pair_and_validates():
    sig = M.model_signature(arch="lenet", num_classes=10, in_channels=1, image_size=[28, 28], mean=[0.1], std=[0.3])
    assert sig["image_size"] == 28 and sig["pretrained"] is False and sig["activation"] == "relu"
    with pytest.raises(ValueError, match="square"):
        M.model_signature(arch="lenet", num_classes=10, in_channels=1, image_size=[28, 32], mean=[0.1], std=[0.3])
    with pytest.raises(ValueError, match="per input channel"):
        M.model_signature(arch="lenet", num_classes=10, in_channels=3, image_size=32, mean=[0.1], std=[0.3])
    with pytest.raises(ValueError, match="positive"):
        M.model_signature(arch="lenet", num_classes=10, in_channels=1, image_size=32, mean=[0.1], std=[0.0])
    with pytest.raises(ValueError, match="unknown signature keys"):
        M.build_from_signature(dict(sig, depth=50))


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError) as e:
        M.build_model("vgg16", num_classes=10, **RGB32)
    for name in list(OURS) + TV:
        assert name in str(e.value)
    with pytest.raises(ValueError) as e:
        M.build_model("lenet", num_classes=10, activation="gelu", **RGB32)
    assert "relu" in str(e.value) and "softplus" in str(e.value)
    with pytest.raises(ValueError, match="relu, softplus"):
        M.make_activation("tanh")
    with pytest.raises(ValueError, match="pretrained"):
        M.build_model("resnet18", num_classes=10, pretrained=True, **RGB32)


def test_normalize_module():
    n = M.Normalize([0.5], [0.25])
    x = torch.rand(2, 1, 5, 5)
    assert torch.allclose(n(x), (x - 0.5) / 0.25)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        n(torch.rand(2, 3, 5, 5))
    with pytest.raises(ValueError):
        M.Normalize([0.5, 0.5], [0.25])


def test_swap_activations_softplus_surrogate():
    relu = _build("resnet18", RGB32).eval()
    surrogate = _build("resnet18", RGB32).eval()
    M.swap_activations(surrogate, "softplus", softplus_beta=1e4)
    assert not any(isinstance(m, nn.ReLU) for m in surrogate.modules())
    assert sum(isinstance(m, nn.Softplus) for m in surrogate.modules()) == \
        sum(isinstance(m, nn.ReLU) for m in relu.modules())
    x = _x(RGB32)
    with torch.no_grad():
        a, b = relu(x), surrogate(x)
    assert torch.allclose(a, b, atol=1e-2)  # large beta: Softplus ~ ReLU


@pytest.mark.parametrize("arch,data", [("resnet101", RGB32), ("efficientnet_b0", GREY28), ("alexnet", RGB64)])
@pytest.mark.parametrize("activation", M.ACTIVATIONS)
def test_torchvision_models(arch, data, activation):
    model = M.build_model(arch, num_classes=7, activation=activation, **data).eval()
    assert isinstance(next(iter(model.children())), M.Normalize)
    x = _x(data, b=2).requires_grad_(True)
    out = model(x)
    assert out.shape == (2, 7)
    out[:, 1].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.allclose(model.classifier(model.features(x)), out)
    assert model.classifier.out_features == 7
    kinds = {type(m) for m in model.modules()}
    if activation == "softplus":
        assert nn.Softplus in kinds and not kinds & {nn.ReLU, nn.ReLU6, nn.SiLU}
    else:
        assert nn.Softplus not in kinds
        assert not any(getattr(m, "inplace", False) for m in model.modules()
                       if isinstance(m, (nn.ReLU, nn.ReLU6, nn.SiLU)))


def test_torchvision_restrictions():
    with pytest.raises(ValueError, match="width"):
        M.build_model("efficientnet_b0", num_classes=7, width=0.5, **RGB32)
    with pytest.raises(ValueError, match="63"):
        M.build_model("alexnet", num_classes=7, **RGB32)


def test_pretrained_missing_file_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = M.pretrained_weights_path("resnet101")
    assert path == tmp_path / "hub" / "checkpoints" / "resnet101-63fe2227.pth"
    with pytest.raises(M.PretrainedWeightsMissing) as e:
        M.build_model("resnet101", num_classes=7, pretrained=True, **RGB32)
    msg = str(e.value)
    assert "resnet101-63fe2227.pth" in msg and str(path.parent) in msg and "pretrained: false" in msg
    assert "https://download.pytorch.org/models/resnet101-63fe2227.pth" in msg


def test_pretrained_wrong_hash_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = M.pretrained_weights_path("alexnet")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the weights")
    with pytest.raises(RuntimeError, match="SHA-256"):
        M.build_model("alexnet", num_classes=7, pretrained=True, **RGB64)


def test_pretrained_weights_are_loaded_from_the_cache(tmp_path, monkeypatch):
    # A stand-in checkpoint with a correct hash prefix in its name, put where the loader looks.
    torch.manual_seed(3)
    import torchvision
    reference = torchvision.models.efficientnet_b0(weights=None)
    blob = tmp_path / "blob.pth"
    torch.save(reference.state_dict(), blob)
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    cached = tmp_path / "hub" / "checkpoints" / f"efficientnet_b0_test-{digest[:8]}.pth"
    cached.parent.mkdir(parents=True)
    blob.rename(cached)
    monkeypatch.setattr(architectures, "pretrained_weights_path", lambda arch: cached)
    model = M.build_model("efficientnet_b0", num_classes=7, pretrained=True, **RGB32)
    assert torch.equal(model.body.features[0][0].weight, reference.features[0][0].weight)
    assert model.classifier.out_features == 7


class _Payload:
    """Unpickling this runs code: what a crafted model file would do with a plain torch.load."""
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path(__import__('os').environ['PWNED']).write_text('ran')",))


def test_load_model_runs_no_code_from_a_crafted_file(tmp_path, monkeypatch):
    import pickle

    from interprobust.models.store import load_model
    marker = tmp_path / "pwned"
    monkeypatch.setenv("PWNED", str(marker))
    crafted = tmp_path / "model.pt"
    torch.save({"state_dict": {}, "meta": {"signature": {}}, "x": _Payload()}, crafted)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_model(crafted)
    assert not marker.exists()

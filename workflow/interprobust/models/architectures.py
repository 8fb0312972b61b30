"""Model zoo: every architecture of the four papers behind one builder.

``build_model(arch, num_classes=..., in_channels=..., image_size=..., mean=..., std=...)`` returns a
plain ``nn.Module`` that

* takes images in [0, 1] of shape (B, in_channels, H, W);
* starts with a :class:`Normalize` module (``(x - mean) / std`` with registered buffers), so that
  attacks, explanation methods and ε-balls all live in [0, 1] pixel space;
* uses *modules* for every activation (never ``F.relu`` in a forward pass), each use its own module
  instance in our architectures, all non-inplace, so that Guided Backprop / LRP hooks can see them;
  ``activation="softplus"`` puts ``nn.Softplus(beta=softplus_beta)`` in place of every one of them;
* has ``features(x)`` (the penultimate, pre-classifier representation) and ``classifier`` (the last
  ``nn.Linear``) with ``model(x) == model.classifier(model.features(x))``.

Architectures (``ARCHITECTURES``):

``resnet18``
    Image size <= 64: the common CIFAR variant (3x3 stem, stride 1, no max-pool; kuangliu/AGA).
    Larger inputs: the torchvision/ImageNet stem (7x7 stride 2 + 3x3 max-pool), as used by AGA on
    ImageNet-100. BasicBlocks [2, 2, 2, 2], channels 64-128-256-512 (x width), global average pool.
``convnet``
    SEP's "ConvNet" (Gidaris & Komodakis; SEP: 3 conv layers + 1 FC): 3 blocks of
    conv3x3(pad 1, no bias)-BN-act-maxpool2 with 64 x width channels, flattened, one linear layer.
``lenet``
    AGA's custom "LeNet": conv3x3(pad 1) in->32, 32->32, maxpool2, 32->64, 64->64, maxpool2, flatten,
    FC 64*(s/4)^2 -> 256 -> num_classes (4096 -> 256 -> 10 on CIFAR). No BatchNorm. Channels and the
    256 scale with width.
``wrn28``
    Wide-ResNet-28-10 (Zagoruyko & Komodakis; pre-activation blocks, 4 per group, dropout 0).
    ``width`` multiplies the widen factor (the group channels 160-320-640); the 16-channel stem is
    part of the WRN-d-k definition and is not scaled.
``mobilenetv2``
    MobileNetV2 (Sandler et al.) with ``width`` as width_mult; for inputs <= 64 px the first conv and
    the first two stride-2 stages (24 and 32 channels) use stride 1 (total stride 4: 32 px -> 8x8).
    Differences from torchvision's: activation ReLU (not ReLU6, as in the common CIFAR port) or
    Softplus, channels rounded to the nearest integer (no divisible-by-8 rule) and the last 1280
    layer scaled by width too, no dropout before the classifier.
``resnet101``, ``alexnet``, ``efficientnet_b0``
    torchvision constructors for fine-tuning (G-LIME). ``pretrained=True`` loads the IMAGENET1K_V1
    weights from the local torch hub cache only (never downloads) after checking the SHA-256 prefix
    in the file name. The final linear layer is replaced by a fresh ``num_classes`` one (the
    ``classifier`` attribute); the rest of the network is ``body``. Grey inputs: the normalised grey
    channel is repeated to 3 channels (``RepeatChannels``), which keeps the pretrained first conv.
    Activations: ``relu`` keeps each network's own activations (ReLU; SiLU for EfficientNet), made
    non-inplace; ``softplus`` replaces every ReLU / ReLU6 / SiLU module (EfficientNet's
    squeeze-excitation gates stay Sigmoid). torchvision's ResNet Bottleneck uses one activation
    module three times per block; that is kept. ``width`` must be 1.0. AlexNet needs >= 63 px.

Rebuilding a saved model: ``sig = model_signature(arch=..., ...)`` is a JSON-able dict of the build
arguments and ``build_from_signature(sig)`` builds the same architecture again.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.download import file_digest
from ..nn import ACTIVATIONS, check_activation, make_activation, swap_activations

__all__ = [
    "ACTIVATIONS", "ARCHITECTURES", "TORCHVISION_ARCHITECTURES", "Normalize", "RepeatChannels",
    "PretrainedWeightsMissing", "build_model", "model_signature", "build_from_signature",
    "make_activation", "swap_activations", "pretrained_weights_path",
]

SMALL_INPUT_MAX = 64  # image_size <= this uses the small-input (CIFAR-style) variants


# ------------------------------------------------------------------------------------ building blocks
class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; mean and std are buffers (saved with the state dict)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        mean_t = torch.as_tensor([float(m) for m in mean], dtype=torch.float32)
        std_t = torch.as_tensor([float(s) for s in std], dtype=torch.float32)
        if mean_t.ndim != 1 or mean_t.shape != std_t.shape or mean_t.numel() == 0:
            raise ValueError(f"mean and std must be equally long, non-empty lists; got {list(mean)}, {list(std)}")
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be positive; got {list(std)}")
        self.register_buffer("mean", mean_t.view(1, -1, 1, 1))
        self.register_buffer("std", std_t.view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"Normalize expects (B, {self.mean.shape[1]}, H, W) images; got {tuple(x.shape)}")
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class RepeatChannels(nn.Module):
    """Repeat a single (grey) channel ``channels`` times, e.g. to feed an RGB network."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, self.channels, -1, -1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


def _ch(channels: float, width: float) -> int:
    """Channels times width, rounded half up, at least 1."""
    return max(1, int(math.floor(channels * width + 0.5)))


def _conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


class _FeatureClassifier(nn.Module):
    """Base: ``forward(x) = classifier(features(x))``; subclasses define ``features``."""

    classifier: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


# ------------------------------------------------------------------------------------------ ResNet-18
class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, act: Callable[[], nn.Module]):
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = _conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Identity()
        self.act2 = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNet18(_FeatureClassifier):
    def __init__(self, *, num_classes, in_channels, image_size, mean, std, width, act):
        super().__init__()
        self.normalize = Normalize(mean, std)
        c = [_ch(64, width), _ch(128, width), _ch(256, width), _ch(512, width)]
        if image_size <= SMALL_INPUT_MAX:
            self.stem = nn.Sequential(_conv3x3(in_channels, c[0]), nn.BatchNorm2d(c[0]), act())
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c[0], 7, stride=2, padding=3, bias=False),
                                      nn.BatchNorm2d(c[0]), act(), nn.MaxPool2d(3, stride=2, padding=1))
        cin = c[0]
        for i, cout in enumerate(c):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(cin, cout, stride, act), BasicBlock(cout, cout, 1, act)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = cout
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(cin, num_classes)

    def features(self, x):
        x = self.stem(self.normalize(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.flatten(self.pool(x))


# -------------------------------------------------------------------------------- ConvNet and LeNet
class ConvNet(_FeatureClassifier):
    def __init__(self, *, num_classes, in_channels, image_size, mean, std, width, act):
        super().__init__()
        if image_size < 8:
            raise ValueError(f"convnet needs image_size >= 8 (three 2x2 max-pools); got {image_size}")
        self.normalize = Normalize(mean, std)
        c = _ch(64, width)
        layers: list[nn.Module] = []
        cin = in_channels
        for _ in range(3):
            layers += [_conv3x3(cin, c), nn.BatchNorm2d(c), act(), nn.MaxPool2d(2)]
            cin = c
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        side = image_size // 8
        self.classifier = nn.Linear(c * side * side, num_classes)

    def features(self, x):
        return self.body(self.normalize(x))


class LeNet(_FeatureClassifier):
    def __init__(self, *, num_classes, in_channels, image_size, mean, std, width, act):
        super().__init__()
        if image_size < 4:
            raise ValueError(f"lenet needs image_size >= 4 (two 2x2 max-pools); got {image_size}")
        self.normalize = Normalize(mean, std)
        c1, c2, hidden = _ch(32, width), _ch(64, width), _ch(256, width)
        side = image_size // 4
        self.body = nn.Sequential(
            _conv3x3(in_channels, c1, bias=True), act(),
            _conv3x3(c1, c1, bias=True), act(),
            nn.MaxPool2d(2),
            _conv3x3(c1, c2, bias=True), act(),
            _conv3x3(c2, c2, bias=True), act(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * side * side, hidden), act(),
        )
        self.classifier = nn.Linear(hidden, num_classes)

    def features(self, x):
        return self.body(self.normalize(x))


# -------------------------------------------------------------------------------------- WRN-28-10
class WideBasicBlock(nn.Module):
    """Pre-activation wide block (BN-act-conv x 2); the 1x1 shortcut sees the pre-activated input."""

    def __init__(self, cin: int, cout: int, stride: int, act: Callable[[], nn.Module]):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.act1 = act()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = act()
        self.conv2 = _conv3x3(cout, cout)
        self.equal_in_out = cin == cout and stride == 1
        self.shortcut = None if self.equal_in_out else nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x))
        out = self.conv2(self.act2(self.bn2(self.conv1(pre))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet28(_FeatureClassifier):
    depth = 28
    widen_factor = 10

    def __init__(self, *, num_classes, in_channels, image_size, mean, std, width, act):
        super().__init__()
        self.normalize = Normalize(mean, std)
        n = (self.depth - 4) // 6
        k = self.widen_factor
        c = [16, _ch(16 * k, width), _ch(32 * k, width), _ch(64 * k, width)]
        self.stem = _conv3x3(in_channels, c[0])
        cin = c[0]
        for g in range(3):
            blocks = []
            for i in range(n):
                stride = (1 if g == 0 else 2) if i == 0 else 1
                blocks.append(WideBasicBlock(cin, c[g + 1], stride, act))
                cin = c[g + 1]
            setattr(self, f"block{g + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(cin)
        self.act = act()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(cin, num_classes)
        for m in self.modules():  # initialisation of the reference implementation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def features(self, x):
        x = self.stem(self.normalize(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.flatten(self.pool(self.act(self.bn(x))))


# ------------------------------------------------------------------------------------ MobileNetV2
class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int, act: Callable[[], nn.Module]):
        super().__init__()
        hidden = _ch(cin * expand_ratio, 1.0)
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), act(),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(_FeatureClassifier):
    # (expand ratio t, channels c, repeats n, stride s) as in Sandler et al. / torchvision
    SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1)]

    def __init__(self, *, num_classes, in_channels, image_size, mean, std, width, act):
        super().__init__()
        self.normalize = Normalize(mean, std)
        small = image_size <= SMALL_INPUT_MAX
        c0 = _ch(32, width)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c0, 3, stride=1 if small else 2, padding=1, bias=False),
                                  nn.BatchNorm2d(c0), act())
        blocks: list[nn.Module] = []
        cin = c0
        stride2_seen = 0
        for t, c, n, s in self.SETTING:
            if s == 2:
                stride2_seen += 1
                if small and stride2_seen <= 2:  # small inputs: the first two stride-2 stages keep resolution
                    s = 1
            cout = _ch(c, width)
            for i in range(n):
                blocks.append(InvertedResidual(cin, cout, s if i == 0 else 1, t, act))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        c_last = _ch(1280, width)
        self.head = nn.Sequential(nn.Conv2d(cin, c_last, 1, bias=False), nn.BatchNorm2d(c_last), act())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(c_last, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def features(self, x):
        x = self.head(self.blocks(self.stem(self.normalize(x))))
        return self.flatten(self.pool(x))


def _ours(cls):
    def builder(*, num_classes, in_channels, image_size, mean, std, width=1.0, activation="relu",
                softplus_beta=3.0, pretrained=False):
        if pretrained:
            raise ValueError(f"no pretrained weights exist for {cls.__name__}; pretrained=True is only for "
                             f"{', '.join(TORCHVISION_ARCHITECTURES)} (set pretrained: false)")
        return cls(num_classes=num_classes, in_channels=in_channels, image_size=image_size, mean=mean, std=std,
                   width=width, act=lambda: make_activation(activation, softplus_beta))
    builder.__name__ = f"build_{cls.__name__.lower()}"
    builder.__doc__ = f"Build {cls.__name__} (see the module docstring)."
    return builder


# ------------------------------------------------------------------------ torchvision fine-tuning
# arch -> (torchvision constructor name, weights enum name, minimum image size)
TORCHVISION_ARCHITECTURES: dict[str, tuple[str, str, int]] = {
    "resnet101": ("resnet101", "ResNet101_Weights", 1),
    "alexnet": ("alexnet", "AlexNet_Weights", 63),
    "efficientnet_b0": ("efficientnet_b0", "EfficientNet_B0_Weights", 1),
}
_HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")  # as torch.hub: the SHA-256 prefix in the file name


class PretrainedWeightsMissing(FileNotFoundError):
    """The ImageNet weights are not in the local torch hub cache (and we never download)."""


class TorchvisionClassifier(_FeatureClassifier):
    """normalize -> (grey: repeat to RGB) -> torchvision body without its last linear -> classifier."""

    def __init__(self, normalize: Normalize, body: nn.Module, classifier: nn.Linear, grey: bool):
        super().__init__()
        self.normalize = normalize
        self.to_rgb = RepeatChannels(3) if grey else nn.Identity()
        self.body = body
        self.classifier = classifier

    def features(self, x):
        return self.body(self.to_rgb(self.normalize(x)))


def _weights_enum(arch: str):
    import torchvision.models as tvm
    return getattr(tvm, TORCHVISION_ARCHITECTURES[arch][1]).IMAGENET1K_V1


def pretrained_weights_path(arch: str) -> Path:
    """Where ``pretrained=True`` looks for ``arch``'s ImageNet weights: <torch hub dir>/checkpoints/<file>."""
    if arch not in TORCHVISION_ARCHITECTURES:
        raise ValueError(f"no pretrained weights for {arch!r}; available for: {', '.join(TORCHVISION_ARCHITECTURES)}")
    filename = Path(_weights_enum(arch).url).name
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _load_verified_checkpoint(path: Path, *, arch: str, url: str) -> dict[str, torch.Tensor]:
    """Load a hub-cache checkpoint after checking its SHA-256 against the prefix in its name."""
    if not path.is_file():
        raise PretrainedWeightsMissing(
            f"pretrained ImageNet weights for {arch} not found: expected the file {path.name} at {path}. "
            f"This pipeline never downloads weights. To pre-seed the cache offline, fetch {url} on a machine "
            f"with internet access (e.g. `python -c \"import torchvision; torchvision.models.{arch}"
            f"(weights='IMAGENET1K_V1')\"` puts it in ~/.cache/torch/hub/checkpoints/) and copy {path.name} "
            f"to {path.parent}/ (the torch hub cache: $TORCH_HOME/hub/checkpoints, by default "
            f"~/.cache/torch/hub/checkpoints). Or set `pretrained: false` in the config "
            f"(model_defaults) to start from a random initialisation.")
    m = _HASH_REGEX.search(path.name)
    if not m or not m.group(1):
        raise ValueError(f"cannot verify {path}: its name carries no SHA-256 prefix (expected NAME-<hex>.pth)")
    prefix, digest = m.group(1), file_digest(path)
    if not digest.startswith(prefix):
        raise RuntimeError(f"{path} is corrupt or a different file: its SHA-256 is {digest}, but the name says it "
                           f"starts with {prefix}. Copy a fresh {path.name} from {url}.")
    return torch.load(path, map_location="cpu", weights_only=True)


def _torchvision(arch: str):
    ctor_name, _, min_size = TORCHVISION_ARCHITECTURES[arch]

    def builder(*, num_classes, in_channels, image_size, mean, std, width=1.0, activation="relu",
                softplus_beta=3.0, pretrained=False):
        import torchvision.models as tvm
        if width != 1.0:
            raise ValueError(f"{arch} is a fixed torchvision architecture: width must be 1.0 (got {width})")
        if in_channels not in (1, 3):
            raise ValueError(f"{arch} takes grey (1) or RGB (3) inputs; got in_channels={in_channels}")
        if image_size < min_size:
            raise ValueError(f"{arch} needs image_size >= {min_size}; got {image_size}")
        body = getattr(tvm, ctor_name)(weights=None)
        if pretrained:
            w = _weights_enum(arch)
            body.load_state_dict(_load_verified_checkpoint(pretrained_weights_path(arch), arch=arch, url=w.url))
        if arch == "resnet101":
            in_features = body.fc.in_features
            body.fc = nn.Identity()
        elif arch == "alexnet":
            in_features = body.classifier[6].in_features
            body.classifier[6] = nn.Identity()
        else:  # efficientnet_b0: classifier = (Dropout, Linear)
            in_features = body.classifier[1].in_features
            body.classifier[1] = nn.Identity()
        if activation == "softplus":
            swap_activations(body, "softplus", softplus_beta, kinds=(nn.ReLU, nn.ReLU6, nn.SiLU))
        else:  # keep the network's own activations, but never in place (hooks need the outputs intact)
            for module in body.modules():
                if isinstance(module, (nn.ReLU, nn.ReLU6, nn.SiLU)):
                    module.inplace = False
        return TorchvisionClassifier(Normalize(mean, std), body, nn.Linear(in_features, num_classes),
                                     grey=in_channels == 1)

    builder.__name__ = f"build_{arch}"
    builder.__doc__ = f"Build torchvision {arch} for fine-tuning (see the module docstring)."
    return builder


# ------------------------------------------------------------------------------------ the registry
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": _ours(ResNet18),
    "convnet": _ours(ConvNet),
    "lenet": _ours(LeNet),
    "wrn28": _ours(WideResNet28),
    "mobilenetv2": _ours(MobileNetV2),
    **{name: _torchvision(name) for name in TORCHVISION_ARCHITECTURES},
}


def model_signature(*, arch: str, num_classes: int, in_channels: int, image_size: int | Sequence[int],
                    mean: Sequence[float], std: Sequence[float], width: float = 1.0, activation: str = "relu",
                    softplus_beta: float = 3.0, pretrained: bool = False) -> dict[str, Any]:
    """The validated, JSON-able build arguments; ``build_from_signature`` rebuilds the model from them.

    ``image_size`` may be an int or a square (H, W) pair.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; valid: {', '.join(ARCHITECTURES)}")
    check_activation(activation)
    if not isinstance(image_size, int):
        size = [int(s) for s in image_size]
        if len(size) != 2 or size[0] != size[1]:
            raise ValueError(f"image_size must be an int or a square (H, W); got {image_size}")
        image_size = size[0]
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}")
    if int(in_channels) < 1 or len(mean) != int(in_channels) or len(std) != int(in_channels):
        raise ValueError(f"mean and std need one value per input channel (in_channels={in_channels}); "
                         f"got mean={mean}, std={std}")
    if any(s <= 0 for s in std):
        raise ValueError(f"std must be positive; got {std}")
    if not float(width) > 0:
        raise ValueError(f"width must be > 0; got {width}")
    if not float(softplus_beta) > 0:
        raise ValueError(f"softplus_beta must be > 0; got {softplus_beta}")
    return dict(arch=str(arch), num_classes=int(num_classes), in_channels=int(in_channels),
                image_size=int(image_size), mean=mean, std=std, width=float(width), activation=str(activation),
                softplus_beta=float(softplus_beta), pretrained=bool(pretrained))


def build_model(arch: str, *, num_classes: int, in_channels: int, image_size: int, mean: Sequence[float],
                std: Sequence[float], width: float = 1.0, activation: str = "relu", softplus_beta: float = 3.0,
                pretrained: bool = False) -> nn.Module:
    """Build ``arch`` (a key of ``ARCHITECTURES``); see the module docstring. Initialisation uses torch's
    global RNG: seed it first for reproducible weights."""
    sig = model_signature(arch=arch, num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                          mean=mean, std=std, width=width, activation=activation, softplus_beta=softplus_beta,
                          pretrained=pretrained)
    return ARCHITECTURES[sig.pop("arch")](**sig)


def build_from_signature(sig: dict[str, Any]) -> nn.Module:
    """Rebuild a model from ``model_signature(...)`` output (e.g. read back from saved metadata).

    With ``pretrained: true`` the ImageNet weights are loaded again (they must be in the hub cache);
    loading a saved state dict afterwards overwrites them.
    """
    sig = dict(sig)
    unknown = set(sig) - set(inspect.signature(model_signature).parameters)
    if unknown:
        raise ValueError(f"unknown signature keys {sorted(unknown)}")
    if "arch" not in sig:
        raise ValueError("signature has no 'arch'")
    return build_model(sig.pop("arch"), **sig)


def build_for_data(arch: str, meta: dict, model_settings: dict, seed: int) -> tuple[dict[str, Any], nn.Module]:
    """(signature, model) of ``arch`` for a prepared dataset's ``meta`` and a recipe's model settings,
    initialised from ``seed`` (the initial weights are part of the run: the same seed, the same model)."""
    torch.manual_seed(seed)
    sig = model_signature(arch=arch, num_classes=meta["num_classes"], in_channels=meta["channels"],
                          image_size=meta["image_size"][0], mean=meta["mean"], std=meta["std"], **dict(model_settings))
    return sig, build_from_signature(sig)

"""SEP table row labels: one function makes them, for the config's grids and for the scorecard."""

ARCH_NAMES = {"convnet": "ConvNet", "resnet18": "ResNet-18", "wrn28": "WRN-28", "mobilenetv2": "MobileNetV2"}


def row_label(arch: str, variant: str, lead: str | None = None, beta: float | None = None) -> str:
    """"cifar10 ConvNet SEP_pos" (lead = the dataset or the test-time attribution), or with a TRADES
    beta "ConvNet beta=5 TRADES+SEP_pos"."""
    name = ARCH_NAMES.get(arch, arch)
    if beta is not None:
        return f"{name} beta={float(beta):g} {variant}"
    return f"{lead} {name} {variant}"

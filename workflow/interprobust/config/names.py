"""The registries' names and the keywords each callee accepts, as plain data (no torch).

The configuration check (:mod:`.check`) runs at Snakemake parse time, where importing torch would cost
seconds per parse, so it reads these lists instead of the registries themselves.
tests/test_config.py imports the real registries and asserts these lists equal them (names, and
keywords from ``inspect.signature`` or, for the training losses, from the keys their source reads), so
they cannot drift.
"""

from ..data.registry import DATASETS  # noqa: F401  (pure Python: the registry itself)

# interprobust.models.ARCHITECTURES
ARCHITECTURES = ("alexnet", "convnet", "efficientnet_b0", "lenet", "mobilenetv2", "resnet101", "resnet18", "wrn28")

# A value's kind: a number, a bool, free text, or one of a tuple of choices.
NUMBER, FLAG, TEXT = "number", "bool", "text"

# interprobust.attacks.ATTACKS -> the constructor's keywords (eps aside) and their kinds
ATTACK_LOSSES = ("ce", "dlr", "kl")                         # interprobust.attacks.LOSSES
ATTACKS = {
    "fgsm": {"loss": ATTACK_LOSSES},
    "pgd": {"steps": NUMBER, "step_size": NUMBER, "restarts": NUMBER, "random_start": FLAG, "seed": NUMBER,
            "loss": ATTACK_LOSSES, "restart_batch": NUMBER},
    "apgd": {"steps": NUMBER, "restarts": NUMBER, "loss": ATTACK_LOSSES, "seed": NUMBER, "restart_batch": NUMBER},
    "square": {"n_queries": NUMBER, "p_init": NUMBER, "restarts": NUMBER, "seed": NUMBER, "check_every": NUMBER},
}
# keys make_attack takes off a config entry before the constructor: `attack` names the attack (the entry's
# label otherwise) and `step_size_rel` becomes step_size (so it goes only with attacks that take one)
MAKE_ATTACK_KEYS = ("attack", "step_size_rel")

# interprobust.explain.attributions.ATTRIBUTIONS -> the keyword options (model, x, target, create_graph aside)
ATTRIBUTIONS = {
    "gradient": (),
    "input_x_gradient": ("baseline",),
    "guided_backprop": (),
    "lrp": ("start", "stabilizer"),
    "integrated_gradients": ("steps", "method", "baseline", "batch_size"),
    "smoothgrad": ("n", "sigma", "seed", "batch_size"),
    "gradcam": ("layer",),
}

# interprobust.losses.TRAINING_LOSSES -> the keys of `params` the loss reads (and their kinds).
# SEP's loss reads its base's keys too (`base`, default madry); LIMEREF's `spurious` is added by the DAG
# (the last round's F_spurious), so a recipe does not write it.
SEP_BASES = ("madry", "trades")
LOSS_PARAMS = {
    "ce": {},
    "maxent": {"lam": NUMBER},
    "madry": {"eps": NUMBER, "steps": NUMBER, "step_size": NUMBER},
    "trades": {"beta": NUMBER, "eps": NUMBER, "steps": NUMBER, "step_size": NUMBER},
    "gradient_alignment": {"lam_l2": NUMBER, "lam_cos": NUMBER, "eps": NUMBER},
    "hessian": {"lam": NUMBER},
    "atex": {"lam": NUMBER, "mag": NUMBER, "n_along": NUMBER, "sg_n": NUMBER, "sg_sigma": NUMBER,
             "temperature": NUMBER},
    "iga": {"lam": NUMBER, "eps": NUMBER, "steps": NUMBER, "step_size": NUMBER},
    "limeref": {"spurious": TEXT, "masking": FLAG, "masking_prob": NUMBER, "alpha": NUMBER, "fgsm_eps": NUMBER,
                "restrict_fgsm": FLAG, "lam": NUMBER, "reg_fraction": NUMBER, "reg_normalise": ("pixels", "patches")},
    "sep": {"base": SEP_BASES, "gamma": NUMBER, "sigma": NUMBER, "explain": tuple(ATTRIBUTIONS),
            "flat_reduction": ("mean", "sum"), "flat_normalize": ("sum", "max", "none")},
}
LOSS_BASE = {"sep": ("base", "madry")}        # loss -> (the key naming its base loss, the default base)
DAG_PARAMS = {"limeref": ("spurious",)}       # loss -> the keys the DAG sets

# interprobust.papers.aga.toy.VARIANTS -> the training loss of each variant (aga.toy.variant_params)
TOY_VARIANT_LOSSES = {"ReLU": "ce", "Softplus": "ce", "Softplus + MaxEnt": "maxent",
                      "Softplus + ours": "gradient_alignment"}

# glime.segmentation: method -> the scikit-image function's keywords (image aside)
SEGMENTATIONS = {
    "quickshift": ("ratio", "kernel_size", "max_dist", "return_tree", "sigma", "convert2lab", "rng",
                   "channel_axis"),
    "slic": ("n_segments", "compactness", "max_num_iter", "sigma", "spacing", "convert2lab", "enforce_connectivity",
             "min_size_factor", "max_size_factor", "slic_zero", "start_label", "mask", "channel_axis"),
}


def loss_params(loss: str, params: dict | None = None) -> dict:
    """The keys a recipe may give `loss` (with their kinds): the loss's own, its base's (SEP), less the
    DAG's."""
    keys = dict(LOSS_PARAMS[loss])
    if loss in LOSS_BASE:
        key, default = LOSS_BASE[loss]
        base = (params or {}).get(key, default)
        keys.update(LOSS_PARAMS.get(base, {}) if base in keys[key] else {})
    for k in DAG_PARAMS.get(loss, ()):
        keys.pop(k)
    return keys


def attack_options(attack: str) -> dict:
    """The keys a config entry of ``attack`` may have (with their kinds)."""
    keys = {**ATTACKS[attack], "attack": tuple(ATTACKS)}
    if "step_size" in keys:
        keys["step_size_rel"] = NUMBER
    return keys

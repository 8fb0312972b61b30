"""``interprobust limeref detect``: LIME + sensitivity + instability of a round's model -> F_spurious."""

from __future__ import annotations

from ...commands.common import load_for_eval, model_job, subcommands


def detect(a):
    import numpy as np

    from ...io import read_json, write_json
    from . import spurious
    model, _, data, device = load_for_eval(a)
    s = dict(a.settings)
    n = min(int(s.pop("images")), len(data.train_y))
    # LIMEREF analyses test inputs; we use the last n training images so the test set stays unseen
    x, y = np.asarray(data.train_x[-n:]), np.asarray(data.train_y[-n:])
    patch = int(s.pop("patch"))
    lime_options = {k: s.pop(k) for k in ("fill", "fill_value", "kernel_width", "alpha") if k in s}
    scores = spurious.feature_scores(model, x, y, patch=patch, n_samples=int(s.pop("n_samples")),
                                     repeats=int(s.pop("repeats")), seed=int(s.pop("seed", 0)), device=device,
                                     lime_options=lime_options)
    found = spurious.detect(scores, data.meta["num_classes"], criteria=tuple(s.pop("criteria")), **s)
    sets = found.to_dict()
    if a.previous:  # iterative refinement: F accumulates over rounds
        prev = read_json(a.previous)["sets"]
        sets["per_class"] = (np.array(prev["per_class"], bool) | found.per_class).astype(int).tolist()
        sets["global"] = (np.array(prev["global"], bool) | found.global_mask).astype(int).tolist()
    write_json(a.out, {"patch": patch, "image_size": data.meta["image_size"], "n_images": n,
                       "previous": a.previous, "sets": sets,
                       "this_round": {"per_class": found.per_class.astype(int).tolist(),
                                      "global": found.global_mask.astype(int).tolist()},
                       "mean_scores": {"importance": scores.importance.mean(0).tolist(),
                                       "sensitivity": scores.sensitivity.mean(0).tolist(),
                                       "instability": scores.instability.mean(0).tolist()}})
    print(f"F_spurious: {int(np.sum(sets['global']))} of {len(sets['global'])} features (global)")


def register(sub) -> None:
    group = subcommands(sub, "limeref", "LIMEREF: spurious-feature detection between refinement rounds")
    e = group.add_parser("detect", help="LIME + sensitivity + instability on the last training images -> F_spurious")
    e.add_argument("--previous", help="the previous round's spurious.json (F accumulates)")
    model_job(e, settings_help="the config's limeref.detection (JSON)").set_defaults(func=detect)

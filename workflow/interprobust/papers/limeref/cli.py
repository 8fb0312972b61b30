"""``interprobust limeref detect``: LIME + sensitivity + instability of a round's model -> F_spurious."""

from __future__ import annotations

from ...commands.common import load_for_eval, model_job, subcommands


def detect(a):
    from pathlib import Path

    import numpy as np

    from ...data.subsets import write_indices
    from ...io import read_json, write_json
    from . import spurious
    from .split import detection_split
    model, _, data, device = load_for_eval(a)
    s = dict(a.settings)
    # the paper analyses test inputs; we analyse a seeded class-stratified split of the training set that
    # no LIMEREF model trains on (the training jobs hold out the same split), so the test set stays unseen
    _, held = detection_split(data.train_y, int(s.pop("images")), int(s.pop("split_seed", 0)))
    write_indices(Path(a.out).with_name("detection_indices.json"), held, labels=data.train_y,
                  purpose="LIMEREF detection (held out of training)")
    x, y = np.asarray(data.train_x[held]), np.asarray(data.train_y[held])
    patch = int(s.pop("patch"))
    lime_options = {k: s.pop(k) for k in ("fill", "fill_value", "kernel_width", "alpha") if k in s}
    scores = spurious.feature_scores(model, x, y, patch=patch, n_samples=int(s.pop("n_samples")),
                                     repeats=int(s.pop("repeats")), seed=int(s.pop("seed", 0)), device=device,
                                     lime_options=lime_options)
    found = spurious.detect(scores, data.meta["num_classes"], criteria=tuple(s.pop("criteria")), **s)
    previous = read_json(a.previous) if a.previous else None
    record = spurious.detection_record(found, previous, patch=patch, image_size=data.meta["image_size"],
                                       n_images=len(held), scores=scores)
    record["previous"] = a.previous
    write_json(a.out, record)
    print(f"|F_spurious| = {record['size']['global']} of {len(record['sets']['global'])} features (global); "
          f"this round: {record['size']['this_round']}; per class: {record['size']['per_class']}")


def corrupted_strong(a):
    from ...evaluation.robustness import corrupted_strong
    from ...io import write_dataframe
    model, _, data, device = load_for_eval(a)
    if not data.corrupted:
        raise SystemExit(f"{a.data} is not a corrupted test set")
    s = a.settings
    df = corrupted_strong(model, data, eps=s["eps"], attack_settings=s["attacks"], batch_size=s["batch_size"],
                          max_samples=s.get("max_samples"), severities=s.get("severities"), device=device,
                          reference=s.get("reference"))
    write_dataframe(df, a.out)
    print(df.groupby(["attack", "eps"])["accuracy"].mean().to_string())


def register(sub) -> None:
    group = subcommands(sub, "limeref", "LIMEREF: spurious-feature detection between refinement rounds")
    e = group.add_parser("detect", help="LIME + sensitivity + instability on a seeded class-stratified split of "
                                        "the training set held out of every LIMEREF model's training -> F_spurious")
    e.add_argument("--previous", help="the previous round's spurious.json (F accumulates)")
    model_job(e, settings_help="the config's limeref.detection (JSON)").set_defaults(func=detect)
    c = group.add_parser("corrupted-strong", help="the strong attack set (and its per-sample worst case) on a "
                                                  "corrupted test set, every corruption batched together")
    model_job(c, settings_help='JSON {"eps", "attacks", "batch_size", "max_samples", "severities"}').set_defaults(
        func=corrupted_strong)

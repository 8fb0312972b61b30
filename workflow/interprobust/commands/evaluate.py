"""``interprobust evaluate robustness|corruptions|corrupted-attacks``: the foundation's evaluation of one model."""

from __future__ import annotations

from .common import load_for_eval, model_job, subcommands


def robustness(a):
    from ..evaluation import robustness
    from ..io import write_dataframe
    model, _, data, device = load_for_eval(a)
    s = a.settings
    df = robustness(model, data, eps=s["eps"], attack_settings=s["attacks"], batch_size=s["batch_size"],
                    max_samples=s.get("max_samples"), device=device, worst_case=bool(s.get("worst_case", False)),
                    reference=s.get("reference"))
    write_dataframe(df, a.out)
    print(df.to_string(index=False))


def corruptions(a):
    from ..evaluation import corruption_accuracy
    from ..io import write_dataframe
    model, _, data, device = load_for_eval(a)
    if not data.corrupted:
        raise SystemExit(f"{a.data} is not a corrupted test set")
    s = a.settings
    df = corruption_accuracy(model, data, batch_size=s["batch_size"], max_samples=s.get("max_samples"), device=device)
    write_dataframe(df, a.out)
    print(df.groupby("corruption", sort=False)["accuracy"].mean().to_string())


def corrupted_attacks(a):
    from ..evaluation import corruption_attack_accuracy
    from ..io import write_dataframe
    model, _, data, device = load_for_eval(a)
    s = a.settings
    df = corruption_attack_accuracy(model, data, attack_eps=s["attack_eps"], attack_settings=s["attacks"],
                                    batch_size=s["batch_size"], max_samples=s.get("max_samples"),
                                    severities=s.get("severities"), device=device)
    write_dataframe(df, a.out)
    print(df.groupby(["attack", "eps"])["accuracy"].mean().to_string())


def register(sub) -> None:
    ev = subcommands(sub, "evaluate", "evaluate a trained model: accuracy under attack and corruption")
    for name, func in (("robustness", robustness), ("corruptions", corruptions),
                       ("corrupted-attacks", corrupted_attacks)):
        model_job(ev.add_parser(name)).set_defaults(func=func)

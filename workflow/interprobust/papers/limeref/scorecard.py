"""Where each LIMEREF paper cell is in this run's figures' numbers (the paper reports figures only), and
the honesty check on it: a robustness cell whose strong-set worst case is more than 3 points below its
PGD-40 value is ``inflated``."""

from __future__ import annotations

from ...results import NotRun, Results, artifact_id, one

INFLATION_POINTS = 3.0
WORST = "worst-case"


def _dataset_of(results: Results, role: str) -> str:
    for inst in results.instances(artifact_id("limeref", role=role, attack="pgd")):
        if inst.get("role") == role:
            return inst["dataset"]
    raise NotRun(f"no LIMEREF sweep for {role}")


def strong_cell(results: Results, role: str, model: str, eps: float) -> tuple[bool, float, float]:
    """(inflated, PGD-40 accuracy, strong-set worst-case accuracy) of ``model`` at ``eps`` on ``role``'s
    dataset, from the honesty table; NotRun when the strong set did not run at that eps."""
    df, _ = results.read("limeref/honesty", "tidy", dataset=_dataset_of(results, role))
    pgd = one(df, "accuracy", model=model, attack="pgd", eps=float(eps))
    worst = one(df, "accuracy", model=model, attack=WORST, eps=float(eps))
    if pgd is None or worst is None:
        raise NotRun(f"no PGD-40 or worst-case row for {model} at eps {eps}")
    return pgd - worst > INFLATION_POINTS, pgd, worst


HONEST, INFLATED, NOT_RUN = "honest", "inflated", "strong set not run"


def honesty(results: Results, table: str, key: tuple, ours: float | None) -> str | None:
    """The honesty check of a robustness cell (FGSM / PGD on CIFAR-10 / CIFAR-100, Fig. 12-15 on
    CIFAR-10-C): ``inflated`` when its model's strong-set worst case at that eps is more than 3 points
    below its PGD-40 accuracy, ``honest`` when it is not, ``strong set not run`` when the honesty table
    has no PGD-40 / worst-case row for it (the strong set did not run at that eps, or not at all: the
    cell is unchecked, never silently fine); None for a cell that is not a robustness cell or has no
    value of ours."""
    if ours is None or len(key) != 3:
        return None
    try:
        if table in ("cifar10", "cifar100") and key[0] in ("fgsm", "pgd"):
            eps = float(key[1])
            check = lambda: strong_cell(results, table, key[2], eps)[0]   # noqa: E731
        elif table == "cifar10c" and "_" in key[0] and key[0] != "clean_accuracy":
            eps = float(key[0].split("_")[1])
            check = lambda: _corrupted_inflated(results, key[2], key[1], eps)   # noqa: E731
        else:
            return None
    except ValueError:
        return None
    try:
        return INFLATED if check() else HONEST
    except NotRun:
        return f"{NOT_RUN} at ε = {eps:g}"


def flag(results: Results, table: str, key: tuple, ours: float | None) -> str | None:
    """``inflated`` (overrides the tolerance verdict) for a robustness cell the strong set breaks (see
    :func:`honesty`); None otherwise (the honesty column says whether the check ran)."""
    return INFLATED if honesty(results, table, key, ours) == INFLATED else None


def _corrupted_inflated(results: Results, model: str, corruption: str, eps: float) -> bool:
    """The CIFAR-10-C cells (Fig. 12-15): PGD-40 vs the strong worst case on that corruption (mean over
    severities), from the corrupted honesty table; NotRun when it has no row at that eps (or the strong
    set did not run on the corrupted test set at all)."""
    df, _ = results.read("limeref/corrupted_honesty", "tidy")
    pgd = one(df, "accuracy", model=model, corruption=corruption, attack="pgd", eps=eps)
    worst = one(df, "accuracy", model=model, corruption=corruption, attack=WORST, eps=eps)
    if pgd is None or worst is None:
        raise NotRun(f"no corrupted PGD-40 or worst case for {model} / {corruption} at eps {eps}")
    return pgd - worst > INFLATION_POINTS


def lookup(results: Results, table: str, key: tuple) -> tuple[float | None, str]:
    if table in ("cifar10", "cifar100"):
        if key[0] == "clean_accuracy":
            if key[1] not in ("baseline", "refined"):
                return None, ""
            df, f = results.read(artifact_id("limeref", role=table, metric="test_acc"), role=table)
            last = df[df.model == key[1]]
            return (float(last.sort_values("epoch").test_acc.iloc[-1]) if len(last) else None), str(f)
        df, f = results.read(artifact_id("limeref", role=table, attack=key[0]), role=table)
        return one(df, "accuracy", model=key[2], attack=key[0], eps=float(key[1])), str(f)
    if table == "cifar10c" and key[0] == "clean_accuracy" and len(key) == 2:
        # Fig. 10/11: accuracy on the corrupted test set over epochs (mean over corruptions); the paper
        # gives the baseline's peak and the refined model's value (its last epoch)
        which = "baseline" if key[1].startswith("baseline") else "refined" if key[1] == "refined" else None
        if which is None:
            return None, ""
        df, f = results.read(artifact_id("limeref", role="corrupted", which=which))
        per_epoch = df.groupby("epoch")["accuracy"].mean().sort_index()
        if not len(per_epoch):
            return None, str(f)
        return float(per_epoch.max() if key[1].endswith("peak") else per_epoch.iloc[-1]), str(f)
    if table == "cifar10c" and len(key) == 3 and key[0] != "clean_accuracy":
        attack, eps = key[0].split("_")
        df, f = results.read(artifact_id("limeref", role="corrupted", attack=attack, eps=float(eps)))
        return one(df, "accuracy", model=key[2], corruption=key[1], attack=attack, eps=float(eps)), str(f)
    raise NotRun(f"no LIMEREF output holds {table}/{'/'.join(key)}")

"""Where each LIMEREF paper cell is in this run's figures' numbers (the paper reports figures only)."""

from __future__ import annotations

from ...results import NotRun, Results, artifact_id, one


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
    if table == "cifar10c" and len(key) == 3 and key[0] != "clean_accuracy":
        attack, eps = key[0].split("_")
        df, f = results.read(artifact_id("limeref", role="corrupted", attack=attack, eps=float(eps)))
        return one(df, "accuracy", model=key[2], corruption=key[1], attack=attack, eps=float(eps)), str(f)
    raise NotRun(f"no LIMEREF output holds {table}/{'/'.join(key)}")

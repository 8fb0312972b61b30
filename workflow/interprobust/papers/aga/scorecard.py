"""Where each AGA paper cell is: Table 1's tidy rows and Table 2, of the setting that stands for the paper's."""

from __future__ import annotations

from ...results import NotRun, Results, one

ATTRIBUTIONS = {"grad": "gradient", "xgrad": "input_x_gradient", "gbp": "guided_backprop", "lrp": "lrp"}
TABLE2_ROWS = {"ATEX_step3": "ATEX"}   # the paper's Table 2 row label -> ours


def lookup(results: Results, table: str, key: tuple) -> tuple[float | None, str]:
    if table == "table1":
        df, f = results.read("aga/table1", "tidy", stands_for=key[0])
        if key[2] == "acc":
            return one(df, "value", model=key[1], metric="accuracy"), str(f)
        attribution = ATTRIBUTIONS.get(key[2])
        if attribution is None:
            return None, str(f)
        rows = df[(df.model == key[1]) & (df.method == attribution)]
        if key[3] == "rps":
            r = rows[rows.metric == "rps_cosine"]
            return (float(r.loc[r.eps.idxmax(), "value"]) if len(r) else None), str(f)
        return one(rows, "value", metric={"ins": "insertion", "a_ins": "adv_insertion"}[key[3]]), str(f)
    if table == "table2_cost":
        df, f = results.read("aga/table2", stands_for=key[0])
        row = TABLE2_ROWS.get(key[1], key[1])
        return one(df, {"time": "time_vs_first", "memory": "memory_vs_first"}[key[2]], model=row), str(f)
    raise NotRun(f"no AGA output holds {table}")

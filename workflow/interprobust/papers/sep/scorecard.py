"""Where each SEP paper cell is: the row of our table whose label ``row_label`` makes for it."""

from __future__ import annotations

from ...results import NotRun, Results, one
from .labels import row_label


def locate(table: str, key: tuple) -> tuple[str, str, str]:
    """(our table id, row label, column) of a SEP cell; grid rows' labels come from row_label."""
    number = table.split("_")[0]
    if number == "table1":
        return number, f"beta={float(key[0]):g}", key[1]
    if number in ("table2", "table3", "table6"):
        return number, row_label(key[1], key[2], lead=key[0]), key[3]
    if number == "table7":
        return number, row_label(key[1], key[2], lead=key[0].replace("test_", "")), key[3]
    if number == "table8":
        a, beta = key[0].split("_beta")
        return number, row_label(a, key[1], beta=float(beta)), key[2]
    if number == "table9":
        return number, f"{key[0]} epochs", key[1]
    raise NotRun(f"no SEP output holds {table}")


def lookup(results: Results, table: str, key: tuple) -> tuple[float | None, str]:
    stem, label, column = locate(table, key)
    df, f = results.read(f"sep/{stem}")
    return one(df, column, model=label), str(f)

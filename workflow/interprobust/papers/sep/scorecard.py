"""Where each SEP paper cell is: the row of our table whose label ``row_label`` makes for it; and the
paper's self-inconsistent cells, flagged ``paper inconsistent`` instead of judged."""

from __future__ import annotations

from ...results import NotRun, Results, one
from .labels import row_label

# Table 4's rows in printed order -> our row labels (config sep.tables.table4). The paper's gamma values
# were lost in extraction except row 0 (MAT, gamma = 0); row 1 equals Table 2's SEP_pos (gamma = 5e4) and
# row 5 Table 2's SEP_neg (gamma = -3e3); rows 2-4 are our assumed sweep (docs/replication-notes.md).
TABLE4_ROWS = ["gamma=0 (MAT)", "gamma=5e4", "gamma=1e4", "gamma=-1e3", "gamma=-2e3", "gamma=-3e3"]
TABLE4_COLUMNS = {"expl_start": "expl_start", "expl_end": "expl_end", "clean": "clean_acc", "adv": "adv_acc"}


SETTING_UNKNOWN = "paper setting unknown"
TABLE4_KNOWN_ROWS = {0, 1, 5}      # MAT (gamma 0), SEP_pos (5e4) and SEP_neg (-3e3), as Table 2's


def comparable(table: str, key: tuple) -> str | None:
    """Why a SEP paper cell cannot be compared by value (None: it can): Table 4's rows 2-4 were run at
    gamma values the paper's text lost, so our rows there are at gamma values we chose; their cells are
    reported beside ours but not judged."""
    if table.startswith("table4") and key and str(key[0]).isdigit() and int(key[0]) not in TABLE4_KNOWN_ROWS:
        return SETTING_UNKNOWN
    return None


def locate(table: str, key: tuple) -> tuple[str, str, str]:
    """(our table id, row label, column) of a SEP cell; grid rows' labels come from row_label."""
    number = table.split("_")[0]
    if number == "table1":
        return number, f"beta={float(key[0]):g}", key[1]
    if number in ("table2", "table3", "table6"):
        return number, row_label(key[1], key[2], lead=key[0]), key[3]
    if number == "table4":
        if key[1] not in TABLE4_COLUMNS:
            raise NotRun(f"table4 {key[1]} is a setting, not a result")
        return number, TABLE4_ROWS[int(key[0])], TABLE4_COLUMNS[key[1]]
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


def _rows(node, key=()):
    """(key, [expl_start, expl_end, clean_acc, adv_acc]) of every 4-number row below ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _rows(v, key + (str(k),))
    elif isinstance(node, list) and len(node) == 4 and all(isinstance(v, (int, float)) for v in node):
        yield key, node


def inconsistent(values: dict) -> dict[tuple[str, tuple], str]:
    """The SEP cells that contradict the paper itself -> why: (table, key) as ``scorecard.paper_cells``
    names them. Four kinds (issue #17): adversarial accuracy above clean accuracy (Table 2's FMNIST
    ConvNet rows, wherever else it occurs); Table 4's MAT row against Table 2's; Table 8's ResNet-18
    TRADES row, a copy of the ConvNet one; Table 9's 25-epoch row against Table 2's SEP_pos."""
    out: dict[tuple[str, tuple], str] = {}
    for table, node in values.items():
        if not str(table).startswith("table") or table.startswith("table4"):
            continue
        for key, (_, _, clean, adv) in _rows(node):
            if adv > clean:
                why = f"adversarial accuracy {adv:g} % above clean {clean:g} % in the paper"
                out[(table, key + ("clean_acc",))] = out[(table, key + ("adv_acc",))] = why
    t2 = values.get("table2_grad_x_input", {}).get("cifar10", {}).get("convnet", {})
    t4 = values.get("table4_gamma_sweep_cifar10_convnet") or []
    if t2 and t4:
        mat, row = t2.get("MAT"), t4[0]
        for i, col in enumerate(("expl_start", "expl_end", "clean", "adv")):
            if mat and col in row and abs(row[col] - mat[i]) > 1e-9:
                out[("table4_gamma_sweep_cifar10_convnet", ("0", col))] = (
                    f"Table 4's MAT row has {row[col]:g}, Table 2's MAT (CIFAR-10 ConvNet) {mat[i]:g}")
    t8 = values.get("table8_trades_sep_cifar10", {})
    a, b = t8.get("convnet_beta5", {}).get("TRADES"), t8.get("resnet18_beta5", {}).get("TRADES")
    if a and b and all(abs(x - y) <= 0.01 for x, y in zip(a, b)):
        for col in ("expl_start", "expl_end", "clean_acc", "adv_acc"):
            out[("table8_trades_sep_cifar10", ("resnet18_beta5", "TRADES", col))] = \
                "Table 8's ResNet-18 TRADES row repeats the ConvNet one"
    t9 = values.get("table9_epochs_cifar10_convnet", {}).get("25")
    pos = t2.get("SEP_pos") if t2 else None
    if t9 and pos:
        for i, col in enumerate(("expl_start", "expl_end", "clean_acc", "adv_acc")):
            if abs(t9[i] - pos[i]) > 1e-9:
                out[("table9_epochs_cifar10_convnet", ("25", col))] = (
                    f"Table 9's 25-epoch SEP_pos has {t9[i]:g}, Table 2's SEP_pos (25 epochs) {pos[i]:g}")
    return out

"""SEP's tables (Tables 1-9): one row per labelled model."""

from __future__ import annotations

import pandas as pd

from ...render import Table, combine


SEP_COLUMNS = ["expl_start", "expl_end", "clean_acc", "adv_acc", "expl_start_intra", "expl_end_intra",
               "expl_start_inter", "expl_end_inter", "pred_kept", "explain", "pairs"]
SETTING_COLUMNS = ["attack_steps", "early_stop", "steps_run"]   # which attack setting produced the row


def sep_table(df: pd.DataFrame) -> pd.DataFrame:
    """A SEP table: one row per labelled model (``model``), "expl at start / end" (units of 1e-7; also
    intra- / inter-cluster), clean and adversarial accuracy, the share of attacks that kept the prediction,
    expl at end after the recorded steps (``expl_end_at<k>``) and the attack setting behind the row
    (steps, early stop, mean steps taken)."""
    at = sorted((c for c in df.columns if c.startswith("expl_end_at")), key=lambda c: int(c[len("expl_end_at"):]))
    cols = [c for c in SEP_COLUMNS if c in df.columns] + at + [c for c in SETTING_COLUMNS if c in df.columns]
    return df[["model"] + cols].reset_index(drop=True)



# ------------------------------------------------------------------------- render functions (registry)
def table(inputs, *, labels):
    return Table(sep_table(combine(inputs["evals"], labels)))

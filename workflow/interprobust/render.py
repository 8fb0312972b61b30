"""What a table or figure's render function returns, and the one writer of their files.

A render function (declared in a paper's ``artifacts.py``) takes the named input paths and its
options and returns a :class:`Table` (the table itself, optionally the tidy rows it pivots) or a
:class:`Figure` (a matplotlib figure and the numbers it plots). :func:`write` turns either into the
artifact's files, atomically. No torch here: tables and figures are drawn from cached CSV / npz files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Table:
    table: pd.DataFrame            # what <stem>.csv holds and <stem>.md shows
    tidy: pd.DataFrame | None = None   # the long-form rows behind it (<stem>_tidy.csv)
    digits: int = 3
    markdown: str | None = None    # a Markdown view other than the table itself


@dataclass
class Figure:
    figure: Any                    # a matplotlib Figure
    numbers: pd.DataFrame | None = None   # what it plots (<stem>.csv)


def combine(inputs: list[str | Path], labels: list[str]) -> pd.DataFrame:
    """Concatenate per-model CSVs, adding a leading ``model`` column from ``labels``."""
    if len(inputs) != len(labels):
        raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
    frames = []
    for path, label in zip(inputs, labels):
        df = pd.read_csv(path)
        df.insert(0, "model", label)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def write(result: Table | Figure, files: dict[str, str]) -> None:
    """Write ``result`` to ``files`` (format -> path, as :meth:`Artifact.files` gives)."""
    from .io import dataframe_to_markdown, write_dataframe, write_text
    if isinstance(result, Table):
        write_dataframe(result.table, files["csv"])
        if "md" in files:
            md = result.markdown if result.markdown is not None else dataframe_to_markdown(result.table, result.digits)
            write_text(files["md"], md + "\n")
        if "tidy" in files:
            if result.tidy is None:
                raise ValueError("this table declares a tidy file but its render function returned no tidy rows")
            write_dataframe(result.tidy, files["tidy"])
        print(result.table.to_string(index=False))
        return
    from .plotting import save
    save(result.figure, files["pdf"], files.get("png"))
    if "csv" in files:
        if result.numbers is None:
            raise ValueError("this figure declares a CSV of its numbers but its render function returned none")
        write_dataframe(result.numbers, files["csv"])

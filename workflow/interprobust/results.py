"""A run's tables and figures as the scorecard and the claims see them: the registry's manifest.

The manifest (``registry.manifest``, passed by the Snakemake rules) lists every artifact instance the
configuration builds, its wildcards and metadata (``stands_for``, ``role``, ...) and its files; the
scorecard's and the claims' lookups ask it for a file instead of re-deriving a path. A file that the
configuration does not build, or that is missing, is "not run", never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


class NotRun(Exception):
    """A table, row or column a check needs is not in this run's results."""


@dataclass
class Claim:
    """One paper's qualitative claim as a check on this run's tables (``papers/<paper>/claims.py``)."""

    paper: str
    text: str
    check: Callable[["Results"], tuple[bool, str]]   # (holds, the numbers behind the verdict)


class Results:
    def __init__(self, manifest: dict):
        self.scale = manifest.get("scale", "paper")
        self.artifacts: dict[str, list[dict]] = manifest.get("artifacts", {})
        self._tables: dict[Path, pd.DataFrame] = {}   # each file parsed once per run (hundreds of cells read it)

    def instances(self, key: str) -> list[dict]:
        return list(self.artifacts.get(key, []))

    def file(self, key: str, fmt: str = "csv", **match) -> Path:
        """The ``fmt`` file of the first instance of ``key`` whose metadata equal ``match``."""
        for inst in self.instances(key):
            if all(str(inst.get(k)) == str(v) for k, v in match.items()):
                return Path(inst["files"][fmt])
        what = f"{key}" + (f" ({', '.join(f'{k}={v}' for k, v in match.items())})" if match else "")
        raise NotRun(f"{what} not produced by this configuration")

    def read(self, key: str, fmt: str = "csv", **match) -> tuple[pd.DataFrame, Path]:
        path = self.file(key, fmt, **match)
        if path not in self._tables:
            if not path.exists():
                raise NotRun(f"{path} not produced")
            self._tables[path] = pd.read_csv(path)
        return self._tables[path].copy(), path   # a copy: a caller may change its frame


def artifact_id(paper: str, **extra) -> str:
    """The id of ``paper``'s artifact whose registry ``extra`` holds ``extra`` (e.g. an attack and eps)."""
    from .registry import artifacts
    for a in artifacts():
        if a.paper == paper and all(a.extra.get(k) == v for k, v in extra.items()):
            return a.key
    raise NotRun(f"no {paper} artifact with {extra}")


def row(df: pd.DataFrame, column: str, value) -> pd.Series:
    sel = df[df[column].astype(str) == str(value)]
    if sel.empty:
        raise NotRun(f"no row {column} = {value!r}")
    return sel.iloc[0]


def one(df: pd.DataFrame, column: str, **where) -> float | None:
    """The mean of ``column`` over the rows matching ``where`` (floats within 1e-6); None if none."""
    if column not in df.columns:
        return None
    sel = df
    for k, v in where.items():
        if k not in sel.columns:
            return None
        sel = sel[(sel[k] - v).abs() < 1e-6] if isinstance(v, float) else sel[sel[k].astype(str) == str(v)]
    vals = sel[column].dropna()
    return float(vals.mean()) if len(vals) else None

"""The artifact registry: every table and figure of every paper, declared once.

An :class:`Artifact` names its paper and the paper's own id (``fig04``, ``table2``), the files it
writes, what it reads, the function that renders it, and which instances the configuration asks for.
Everything else reads this list: the Snakemake rules are generated from it (one named rule per
artifact, ``<paper>_<id>``), the default target, the scorecard and the claims (through
:func:`manifest`), the report's captions, and ``interprobust where <file>``.

Pure Python (no torch, no Snakemake): plain data in (the resolved configuration as a dict), plain
data out (paths and JSON-able dicts).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PAPERS = ("overview", "limeref", "glime", "aga", "sep", "matrix")
FIGURE_FORMATS = ("pdf", "png", "csv")   # a figure, and the numbers it plots
TABLE_FORMATS = ("csv", "md")             # the table (its CSV is the table), and a Markdown view
SUFFIX = {"pdf": ".pdf", "png": ".png", "csv": ".csv", "md": ".md", "tidy": "_tidy.csv"}

Inputs = Callable[[Any, dict], dict[str, list[str]]]      # (plan, wildcards) -> named input lists
Instances = Callable[[Any], list[dict]]                   # plan -> one dict per instance to build
Options = Callable[[Any, dict], dict]                     # (plan, wildcards) -> the render function's options


def _no_options(plan, w: dict) -> dict:
    return {}


def _single(plan) -> list[dict]:
    return [{}]


@dataclass(frozen=True)
class Artifact:
    """One table or figure of a paper (or of the overview / the cross-paper matrix).

    ``stem`` is the output path without its extension, with ``{wildcards}``; every format in
    ``formats`` is one file (``tidy`` = ``<stem>_tidy.csv``, the long-form rows a table pivots).
    ``render`` is ``"module:function"`` under ``interprobust``; it takes the named input paths and the
    options and returns a :class:`interprobust.render.Table` or :class:`interprobust.render.Figure`.
    ``stage`` is set for an artifact whose render function runs a model (``train`` / ``evaluate``:
    it gets ``device`` and ``threads`` and that stage's resources)."""

    paper: str
    id: str
    title: str
    stem: str
    formats: tuple[str, ...]
    render: str
    inputs: Inputs
    instances: Instances = _single
    options: Options = _no_options
    caption: str = ""
    stage: str | None = None
    category: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.paper}/{self.id}"

    @property
    def rule(self) -> str:
        return f"{self.paper}_{self.id}"

    @property
    def kind(self) -> str:
        return "figure" if "pdf" in self.formats else "table"

    @property
    def wildcards(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.stem)

    def patterns(self) -> dict[str, str]:
        """Format -> output path pattern (with wildcards)."""
        return {f: self.stem + SUFFIX[f] for f in self.formats}

    def files(self, instance: dict) -> dict[str, str]:
        """Format -> output path of one instance."""
        return self.files_from_stem(self.stem.format(**{k: instance[k] for k in self.wildcards}))

    def files_from_stem(self, stem: str) -> dict[str, str]:
        return {f: stem + SUFFIX[f] for f in self.formats}

    def function(self) -> Callable:
        module, name = self.render.split(":")
        return getattr(importlib.import_module(f"interprobust.{module}"), name)

    def where(self) -> str:
        """``papers/<paper>/<module>.py:function`` of the render function."""
        module, name = self.render.split(":")
        return f"{module.replace('.', '/')}.py:{name}"


@functools.cache
def _declared() -> tuple[Artifact, ...]:
    out: list[Artifact] = []
    for paper in PAPERS:
        out += importlib.import_module(f"interprobust.papers.{paper}.artifacts").ARTIFACTS
    keys = [a.key for a in out]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"artifacts declared twice: {dup}")
    return tuple(out)


def artifacts() -> list[Artifact]:
    """Every declared artifact, paper by paper (each paper's ``artifacts.ARTIFACTS``; read once)."""
    return list(_declared())


def get(key: str) -> Artifact:
    """An artifact by ``<paper>/<id>`` (or its rule name ``<paper>_<id>``)."""
    for a in artifacts():
        if key in (a.key, a.rule):
            return a
    raise KeyError(f"no artifact {key!r}; declared: {', '.join(a.key for a in artifacts())}")


def enabled(plan) -> list[Artifact]:
    """The artifacts the configuration builds: the overview's, each enabled paper's, the matrix's."""
    return [a for a in artifacts() if plan.builds(a.paper)]


def targets(plan) -> list[str]:
    """Every output file of every instance of every enabled artifact."""
    return [p for a in enabled(plan) for inst in a.instances(plan) for p in a.files(inst).values()]


def manifest(plan) -> dict[str, list[dict]]:
    """``<paper>/<id>`` -> its instances, each with its wildcards, metadata and ``files``: what the
    scorecard and the claims read (so they never re-derive a path, and Snakemake tracks every file)."""
    return {a.key: [{**inst, "files": a.files(inst)} for inst in a.instances(plan)] for a in enabled(plan)}


def where(path: str) -> tuple[Artifact, dict]:
    """The artifact that writes ``path`` and the instance's wildcards."""
    path = path[2:] if path.startswith("./") else path
    candidates = [(a, f, p) for a in artifacts() for f, p in a.patterns().items()]
    # the longest suffix first: `x_tidy.csv` is the tidy file of `x`, not the table of a setting `x_tidy`
    for a, fmt, pattern in sorted(candidates, key=lambda c: -len(SUFFIX[c[1]])):
        regex = re.escape(pattern)
        for wc in a.wildcards:
            regex = regex.replace(re.escape("{" + wc + "}"), f"(?P<{wc}>[A-Za-z0-9_.+-]+)", 1)
        m = re.fullmatch(regex, path)
        if m:
            return a, m.groupdict()
    raise KeyError(f"no table or figure writes {path!r}; tables and figures are under results/<paper>/ "
                   "(see `interprobust where --list`)")

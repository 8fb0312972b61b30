"""Small file helpers shared by every stage: atomic writes, JSON, progress bars."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps ``path``'s suffix (``suffix`` overrides it) so that writers that infer
    the format from the extension (numpy, matplotlib) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_arrays(path: str | os.PathLike, arrays: dict) -> None:
    """numpy arrays as one ``.npz`` (read back with ``numpy.load(path)``: no pickles), atomically."""
    import numpy as np
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def read_arrays(path: str | os.PathLike) -> dict:
    """Every array of an .npz file (no pickles)."""
    import numpy as np
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def write_dataframe(df, csv_path: str | os.PathLike, md_path: str | os.PathLike | None = None,
                    float_format: str = "%.6g") -> None:
    """Write a pandas DataFrame as CSV (and optionally Markdown), atomically."""
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format)
    if md_path is not None:
        write_text(md_path, dataframe_to_markdown(df) + "\n")


def dataframe_to_markdown(df, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (no ``tabulate`` dependency)."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.{digits}f}"
        return str(v)
    header = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, sep, *rows])


def progress(iterable=None, **kwargs):
    """A tqdm progress bar on stderr; quiet when stderr is not a terminal unless forced."""
    from tqdm.auto import tqdm
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("mininterval", 2.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def _json_default(o):
    import numpy as np
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")

"""Small file helpers shared by every stage: atomic writes, JSON, progress bars."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator


class WriteError(OSError):
    """An output could not be written (full disk, no permission, read-only folder); the message names it."""


# errno values that mean "the destination cannot take the bytes", as opposed to a bug in the writer
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.EIO}


def write_failed(path: str | os.PathLike, cause: BaseException) -> WriteError:
    """The one-sentence error for a failed write of ``path``: the file, the cause, the fix."""
    path = Path(path)
    return WriteError(f"cannot write {path} ({type(cause).__name__}: {cause}); check the free disk space "
                      f"(df -h {path.parent}) and that {path.parent} is writable, then run again")


def is_storage_error(e: BaseException) -> bool:
    """Whether ``e`` says the file system refused the bytes (full, read-only, no permission)."""
    return isinstance(e, OSError) and not isinstance(e, WriteError) and e.errno in _STORAGE_ERRNOS


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary_pattern(path: Path, suffix: str) -> re.Pattern:
    # mkstemp's names: prefix, 8 characters from [a-z0-9_], suffix
    return re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}{re.escape(suffix)}")


def remove_stale_temporaries(path: str | os.PathLike, suffix: str | None = None) -> list[Path]:
    """Delete the temporaries a killed :func:`atomic_path` write of ``path`` left behind; return them.

    Every temporary of this very output is removed, whatever its age: Snakemake locks an output, so two
    writers of the same file never run at once and any temporary found when a write starts is stale.
    Temporaries of other outputs in the folder (other names) are left alone.
    """
    path = Path(path)
    pattern = _temporary_pattern(path, suffix if suffix is not None else path.suffix)
    removed = []
    if path.parent.is_dir():
        for candidate in path.parent.iterdir():
            if pattern.fullmatch(candidate.name) and candidate.is_file():
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name (``.<name>.<random><suffix>``) keeps ``path``'s suffix (``suffix`` overrides it)
    so that writers that infer the format from the extension (numpy, matplotlib) still work. Stale
    temporaries of the same output, left by a killed write, are deleted first; the output gets the
    mode the umask allows (0o666 & ~umask), like any file a program creates. A full disk, a read-only
    folder or a missing permission raises :class:`WriteError` naming ``path``.
    """
    path = Path(path)
    suffix = suffix if suffix is not None else path.suffix
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path, suffix)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:
        raise write_failed(path, e) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as e:
            if is_storage_error(e):
                raise write_failed(path, e) from e
            raise
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except OSError as e:
            raise write_failed(path, e) from e
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def ensure_writable(*paths: str | os.PathLike | None) -> None:
    """Check, before any long work, that each output path's folder can be created and written to.

    Writes and deletes a probe file in every folder; raises :class:`WriteError` naming the first one
    that refuses (``None`` entries are skipped).
    """
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=f".{p.name}.probe-", dir=p.parent)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise WriteError(f"cannot write into {p.parent} (needed for {p}: {type(e).__name__}: {e}); make "
                             f"the folder writable or free disk space before training") from None


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` atomically; torch's own writer failures (a full disk shows as ``RuntimeError: ...
    unexpected pos``) become a :class:`WriteError` naming ``path``."""
    import torch
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:
            raise write_failed(path, e) from e


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

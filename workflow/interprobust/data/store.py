"""The prepared-dataset format every later stage memory-maps.

A prepared dataset is a folder with
- ``train_x.npy`` uint8 (N, H, W, C), ``train_y.npy`` int64 (N,)   (absent for test-only sets)
- ``test_x.npy``  uint8 (N, H, W, C) or, for a corrupted set, (n_corruptions, 5, N, H, W, C)
- ``test_y.npy``  int64 (N,)
- optional extra arrays ``<name>.npy`` (e.g. ``train_patch_boxes.npy`` for the planted-patch set)
- ``meta.json``: name, classes, shapes, split sizes, source, checksums of the inputs and of every
  array. Written last, so its presence means the folder is complete.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_path, read_json, write_json
from .download import file_digest

FORMAT_VERSION = 1


@dataclass
class Prepared:
    path: Path
    meta: dict
    train_x: np.ndarray | None
    train_y: np.ndarray | None
    test_x: np.ndarray
    test_y: np.ndarray

    @property
    def corrupted(self) -> bool:
        return bool(self.meta.get("corruptions"))

    def extra(self, name: str) -> np.ndarray:
        return np.load(self.path / f"{name}.npy", mmap_mode="r")


def _check_images(name: str, x: np.ndarray, corrupted: bool = False) -> None:
    want = 6 if corrupted else 4
    if x.dtype != np.uint8 or x.ndim != want:
        raise ValueError(f"{name} must be uint8 with {want} dims (..., H, W, C); got {x.dtype} {x.shape}")


def write_prepared(out_dir: str | Path, *, name: str, test_x: np.ndarray, test_y: np.ndarray,
                   classes: list[str], train_x: np.ndarray | None = None, train_y: np.ndarray | None = None,
                   source: dict[str, Any] | None = None, corruptions: list[str] | None = None,
                   extras: dict[str, np.ndarray] | None = None, info: dict[str, Any] | None = None,
                   move_memmaps: bool = False) -> dict:
    """Write one prepared dataset atomically (each array to a temp name, then renamed; meta.json last).

    With ``move_memmaps=True``, an array that is a whole ``.npy`` file opened with
    ``np.lib.format.open_memmap`` somewhere under ``out_dir`` is flushed and renamed into place instead
    of copied, so that datasets larger than memory (CIFAR-10-C, ImageNet-100) are written once. Any other
    array (a view, a memmap elsewhere) is copied as usual.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_images("test_x", test_x, corrupted=bool(corruptions))
    arrays: dict[str, np.ndarray] = {"test_x": test_x, "test_y": np.asarray(test_y, dtype=np.int64)}
    if train_x is not None:
        _check_images("train_x", train_x)
        if train_y is None or len(train_y) != len(train_x):
            raise ValueError("train_y must be given with train_x and have the same length")
        arrays["train_x"] = train_x
        arrays["train_y"] = np.asarray(train_y, dtype=np.int64)
    if test_x.shape[-4] != len(test_y):
        raise ValueError(f"test_x has {test_x.shape[-4]} images but test_y has {len(test_y)} labels")
    for k, v in (extras or {}).items():
        arrays[k] = np.asarray(v)
    checksums = {}
    for key, arr in arrays.items():
        target = out / f"{key}.npy"
        if move_memmaps and _is_whole_npy_memmap_under(arr, out):
            arr.flush()
            os.replace(arr.filename, target)
        else:
            with atomic_path(target) as tmp:
                np.save(tmp, np.ascontiguousarray(arr))
        checksums[f"{key}.npy"] = file_digest(target)
    h, w, c = test_x.shape[-3:]
    stats_from = train_x if train_x is not None else test_x.reshape(-1, h, w, c)
    mean, std = channel_stats(stats_from)
    meta = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "classes": list(classes),
        "num_classes": len(classes),
        "image_size": [int(h), int(w)],
        "channels": int(c),
        "n_train": 0 if train_x is None else int(len(train_x)),
        "n_test": int(len(test_y)),
        "mean": mean,
        "std": std,
        "corruptions": list(corruptions or []),
        "severities": [1, 2, 3, 4, 5] if corruptions else [],
        "source": source or {},
        "arrays": checksums,
        "info": info or {},
    }
    write_json(out / "meta.json", meta)
    return meta


def _is_whole_npy_memmap_under(arr: np.ndarray, folder: Path) -> bool:
    """Whether ``arr`` is an ``open_memmap`` of a whole ``.npy`` file under ``folder`` (not a view of one)."""
    if not isinstance(arr, np.memmap) or not isinstance(arr.base, mmap.mmap) or not arr.filename:
        return False
    path = Path(arr.filename).resolve()
    if path.suffix != ".npy" or not path.is_relative_to(folder.resolve()) or not arr.flags.c_contiguous:
        return False
    return path.stat().st_size == arr.offset + arr.nbytes


def channel_stats(x: np.ndarray, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units of uint8 images (N, H, W, C), in chunks (mmap-friendly)."""
    c = x.shape[-1]
    s = np.zeros(c, dtype=np.float64)
    s2 = np.zeros(c, dtype=np.float64)
    n = 0
    for i in range(0, len(x), chunk):
        b = np.asarray(x[i:i + chunk], dtype=np.float64).reshape(-1, c) / 255.0
        s += b.sum(0)
        s2 += (b * b).sum(0)
        n += len(b)
    mean = s / max(n, 1)
    std = np.sqrt(np.maximum(s2 / max(n, 1) - mean ** 2, 1e-12))
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def load_prepared(path: str | Path, verify: bool = False) -> Prepared:
    """Memory-map a prepared dataset. ``path`` is its folder or its ``meta.json``."""
    path = Path(path)
    if path.name == "meta.json":
        path = path.parent
    meta_path = path / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: prepare the dataset first "
                                f"(interprobust data prepare --dataset <name> --meta {meta_path})")
    meta = read_json(meta_path)
    if verify:
        for fname, digest in meta["arrays"].items():
            if file_digest(path / fname) != digest:
                raise ValueError(f"{path / fname} does not match the checksum in meta.json; re-prepare it")

    def load(key):
        f = path / f"{key}.npy"
        return np.load(f, mmap_mode="r") if f.exists() else None

    return Prepared(path, meta, load("train_x"), load("train_y"), load("test_x"), load("test_y"))

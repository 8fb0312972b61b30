"""Miniature archives in each real dataset's exact published layout, a few images per class.

They let the paper-scale DAG (``config.yaml`` + ``config/paper-shaped.yaml``) run on a CPU without the
internet: the same file names, archive formats, member paths, index files, class counts and image
shapes as the real downloads (see ``/work/shared/DATASETS.md``-style facts in ``registry.py``), so the
real download -> verify -> extract -> prepare code runs on them unchanged; only the number of images
differs. The pixels are seeded noise with a class-dependent mean colour (a model can learn something).

``build(out_dir)`` writes every archive (and an ImageNet-style folder for ``imagenet100``) and returns
the config fragment that points the pipeline at them::

    data:
      url_overrides: {"<dataset>/<file>": "<out_dir>/<dataset>/<file>", ...}
      checksums:     {"<dataset>/<file>": "sha256:<hex>", ...}    # the miniatures' own checksums
      imagenet_dir:  <out_dir>/imagenet

``interprobust data miniature --out DIR`` writes the same as ``DIR/overlay.yaml``. The tests use the
writers below (``write_idx``, ``tar_files``, ``zip_files``, ``npy_bytes``, ``jpeg_bytes``) too.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from .registry import CORRUPTIONS, DATASETS

# what each dataset's miniature holds by default: (train images per class, test images per class)
PER_CLASS = {"mnist": (3, 2), "fmnist": (3, 2), "cifar10": (3, 2), "cifar100": (2, 1), "cifar10c": (0, 2),
             "tinyimagenet": (2, 1), "cub200": (1, 1), "imagenet100": (1, 1),     # 224 px sets: one per class
             "flowers102": (2, 1), "stanfordcars": (1, 1)}   # Flowers: one in trnid and one in valid per class


# ---------------------------------------------------------------------------------------- writers
def write_idx(path: str | Path, arr: np.ndarray) -> Path:
    """A gzip'd IDX file (uint8), as MNIST's ``*-ubyte.gz``."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())
    return Path(path)


def pickle_bytes(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def jpeg_bytes(img, mode: str | None = None) -> bytes:
    """JPEG (quality 95, no chroma subsampling) of a uint8 array or a PIL image."""
    from PIL import Image
    im = img if isinstance(img, Image.Image) else Image.fromarray(img, mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, subsampling=0)
    return buf.getvalue()


def tar_files(path: str | Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    """A tar archive (``mode`` "w" uncompressed, "w:gz" gzip'd) of ``{member name: bytes}``, in order."""
    with tarfile.open(path, mode) as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return Path(path)


def zip_files(path: str | Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in files.items():
            zf.writestr(name, payload)
    return Path(path)


# ------------------------------------------------------------------------------------------ images
def _labels(num_classes: int, per_class: int) -> np.ndarray:
    return np.repeat(np.arange(num_classes), per_class)


def _images(rng: np.random.Generator, labels: np.ndarray, shape: tuple[int, ...], num_classes: int) -> np.ndarray:
    """uint8 noise around a class-dependent mean colour: (N, *shape)."""
    channels = shape[2] if len(shape) == 3 else 1
    means = rng.uniform(40, 215, size=(num_classes, channels))
    x = means[labels][:, None, None, :] + rng.normal(0, 35, size=(len(labels), shape[0], shape[1], channels))
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x if len(shape) == 3 else x[..., 0]


def _split(rng, name: str, train_pc: int, test_pc: int, shape) -> tuple[np.ndarray, ...]:
    k = DATASETS[name].num_classes
    ytr, yte = _labels(k, train_pc), _labels(k, test_pc)
    xtr, xte = _images(rng, ytr, shape, k), _images(rng, yte, shape, k)
    order = rng.permutation(len(ytr))          # real training files are not class-sorted
    return xtr[order], ytr[order], xte, yte


# ----------------------------------------------------------------------------------- the datasets
def _idx(name: str, folder: Path, rng, train_pc: int, test_pc: int) -> None:
    xtr, ytr, xte, yte = _split(rng, name, train_pc, test_pc, (28, 28))
    for fname, arr in (("train-images-idx3-ubyte.gz", xtr), ("train-labels-idx1-ubyte.gz", ytr),
                       ("t10k-images-idx3-ubyte.gz", xte), ("t10k-labels-idx1-ubyte.gz", yte)):
        write_idx(folder / fname, arr)


def _chw_rows(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 3, 1, 2).reshape(len(x), 3072)


def _cifar10(folder: Path, rng, train_pc: int, test_pc: int) -> None:
    from .real import CIFAR10_CLASSES
    xtr, ytr, xte, yte = _split(rng, "cifar10", train_pc, test_pc, (32, 32, 3))
    files = {}
    for i, part in enumerate(np.array_split(np.arange(len(ytr)), 5), 1):
        files[f"cifar-10-batches-py/data_batch_{i}"] = pickle_bytes(
            {b"batch_label": f"training batch {i} of 5".encode(), b"labels": ytr[part].tolist(),
             b"data": _chw_rows(xtr[part]), b"filenames": [b"x.png"] * len(part)})
    files["cifar-10-batches-py/test_batch"] = pickle_bytes(
        {b"batch_label": b"testing batch 1 of 1", b"labels": yte.tolist(), b"data": _chw_rows(xte),
         b"filenames": [b"x.png"] * len(yte)})
    files["cifar-10-batches-py/batches.meta"] = pickle_bytes(
        {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_cases_per_batch": 10000, b"num_vis": 3072})
    tar_files(folder / "cifar-10-python.tar.gz", files)


def _cifar100(folder: Path, rng, train_pc: int, test_pc: int) -> None:
    xtr, ytr, xte, yte = _split(rng, "cifar100", train_pc, test_pc, (32, 32, 3))

    def part(x, y, label):
        return pickle_bytes({b"filenames": [b"x.png"] * len(y), b"batch_label": label, b"fine_labels": y.tolist(),
                             b"coarse_labels": (y // 5).tolist(), b"data": _chw_rows(x)})
    tar_files(folder / "cifar-100-python.tar.gz", {
        "cifar-100-python/train": part(xtr, ytr, b"training batch 1 of 1"),
        "cifar-100-python/test": part(xte, yte, b"testing batch 1 of 1"),
        "cifar-100-python/meta": pickle_bytes({b"fine_label_names": [f"class{i}".encode() for i in range(100)],
                                               b"coarse_label_names": [f"super{i}".encode() for i in range(20)]})})


def _cifar10c(folder: Path, rng, train_pc: int, test_pc: int) -> None:
    _, _, xte, yte = _split(rng, "cifar10", 0, test_pc, (32, 32, 3))
    files = {"CIFAR-10-C/labels.npy": npy_bytes(np.tile(yte.astype(np.uint8), 5))}
    for c in CORRUPTIONS:                       # severity s: rows [(s-1) n, s n), noisier with s
        sev = [np.clip(xte.astype(int) + rng.normal(0, 8 * s, xte.shape), 0, 255).astype(np.uint8) for s in range(1, 6)]
        files[f"CIFAR-10-C/{c}.npy"] = npy_bytes(np.concatenate(sev))
    tar_files(folder / "CIFAR-10-C.tar", files, mode="w")   # the real one is an uncompressed tar


def _wnids(n: int) -> list[str]:
    return [f"n{1440000 + 7 * i:08d}" for i in range(n)]


def _tinyimagenet(folder: Path, rng, train_pc: int, test_pc: int) -> None:
    xtr, ytr, xte, yte = _split(rng, "tinyimagenet", train_pc, test_pc, (64, 64, 3))
    wnids, root = _wnids(200), "tiny-imagenet-200"
    files = {f"{root}/wnids.txt": "".join(w + "\n" for w in wnids).encode(),
             f"{root}/words.txt": "".join(f"{w}\tthing {i}\n" for i, w in enumerate(wnids)).encode()}
    seen: dict[int, int] = {}
    for x, y in zip(xtr, ytr):
        j = seen[int(y)] = seen.get(int(y), -1) + 1
        w = wnids[y]
        img = x if j else x.mean(-1).astype(np.uint8)          # one greyscale image per class, as in the real set
        files[f"{root}/train/{w}/images/{w}_{j}.JPEG"] = jpeg_bytes(img)
    for w in wnids:
        files[f"{root}/train/{w}/{w}_boxes.txt"] = b""
    lines = []
    for i, (x, y) in enumerate(zip(xte, yte)):
        files[f"{root}/val/images/val_{i}.JPEG"] = jpeg_bytes(x)
        lines.append(f"val_{i}.JPEG\t{wnids[y]}\t0\t0\t63\t63\n")
    files[f"{root}/val/val_annotations.txt"] = "".join(lines).encode()
    files[f"{root}/test/images/test_0.JPEG"] = jpeg_bytes(xte[0])   # unlabelled, unused
    zip_files(folder / "tiny-imagenet-200.zip", files)


def _cub200(folder: Path, rng, train_pc: int, test_pc: int) -> None:
    k = 200
    xtr, ytr, xte, yte = _split(rng, "cub200", train_pc, test_pc, (60, 80, 3))   # landscape, like CUB's photos
    classes = [f"{i + 1:03d}.Bird_{i + 1}" for i in range(k)]
    root = "CUB_200_2011"
    files = {f"{root}/classes.txt": "".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)).encode()}
    items = [(x, int(y), True) for x, y in zip(xtr, ytr)] + [(x, int(y), False) for x, y in zip(xte, yte)]
    items.sort(key=lambda t: t[1])              # images.txt is class-sorted in the real set
    images, labels, split, boxes = [], [], [], []
    for i, (x, y, train) in enumerate(items, 1):
        rel = f"{classes[y]}/Bird_{y + 1}_{i:04d}.jpg"
        files[f"{root}/images/{rel}"] = jpeg_bytes(x)
        images.append(f"{i} {rel}\n")
        labels.append(f"{i} {y + 1}\n")
        split.append(f"{i} {int(train)}\n")
        boxes.append(f"{i} 1.0 1.0 70.0 50.0\n")
    for name, lines in (("images.txt", images), ("image_class_labels.txt", labels),
                        ("train_test_split.txt", split), ("bounding_boxes.txt", boxes)):
        files[f"{root}/{name}"] = "".join(lines).encode()
    tar_files(folder / "CUB_200_2011.tgz", files)


def _imagenet(folder: Path, rng, train_pc: int, test_pc: int) -> None:
    """An extracted ImageNet-1k's layout for the 100 classes (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG)."""
    from .real import imagenet100_classes
    wnids = sorted(imagenet100_classes())
    xtr, ytr, xte, yte = _split(rng, "imagenet100", train_pc, test_pc, (72, 96, 3))
    for split, xs, ys in (("train", xtr, ytr), ("val", xte, yte)):
        for i, (x, y) in enumerate(zip(xs, ys)):
            d = folder / split / wnids[y]
            d.mkdir(parents=True, exist_ok=True)
            name = f"{wnids[y]}_{i}.JPEG" if split == "train" else f"ILSVRC2012_val_{i:08d}.JPEG"
            (d / name).write_bytes(jpeg_bytes(x))


def _mat_bytes(mdict: dict) -> bytes:
    from scipy.io import savemat
    buf = io.BytesIO()
    savemat(buf, mdict)
    return buf.getvalue()


def _flowers102(folder: Path, rng, train_pc: int, test_pc: int) -> None:
    """torchvision's Flowers102 files: 102flowers.tgz (jpg/image_%05d.jpg), imagelabels.mat (labels 1..102),
    setid.mat (trnid / valid / tstid, 1-based image ids); the training images split between trnid and valid."""
    xtr, ytr, xte, yte = _split(rng, "flowers102", train_pc, test_pc, (40, 52, 3))
    x, y = np.concatenate([xtr, xte]), np.concatenate([ytr, yte])
    ids = np.arange(1, len(y) + 1)
    tar_files(folder / "102flowers.tgz", {f"jpg/image_{i:05d}.jpg": jpeg_bytes(img) for i, img in zip(ids, x)})
    (folder / "imagelabels.mat").write_bytes(_mat_bytes({"labels": (y + 1)[None, :]}))
    train_ids = ids[:len(ytr)]
    half = len(train_ids) // 2 if train_pc > 1 else len(train_ids)
    (folder / "setid.mat").write_bytes(_mat_bytes({"trnid": train_ids[:half][None, :],
                                                   "valid": train_ids[half:][None, :] if half < len(train_ids)
                                                   else train_ids[:1][None, :],
                                                   "tstid": ids[len(ytr):][None, :]}))


def _stanfordcars(folder: Path, rng, train_pc: int, test_pc: int) -> None:
    """The user-provided Stanford Cars folder in torchvision's layout: stanford_cars/{devkit/cars_meta.mat,
    devkit/cars_train_annos.mat, cars_test_annos_withlabels.mat, cars_train/, cars_test/}."""
    xtr, ytr, xte, yte = _split(rng, "stanfordcars", train_pc, test_pc, (34, 60, 3))
    root = folder / "stanford_cars"
    (root / "devkit").mkdir(parents=True, exist_ok=True)
    names = np.array([f"Car model {j + 1}" for j in range(DATASETS["stanfordcars"].num_classes)], dtype=object)
    (root / "devkit" / "cars_meta.mat").write_bytes(_mat_bytes({"class_names": names[None, :]}))

    def annotations(files, labels):
        return np.array([(f, int(c) + 1) for f, c in zip(files, labels)],
                        dtype=[("fname", object), ("class", object)])[None, :]
    for split, xs, ys, ann in (("cars_train", xtr, ytr, root / "devkit" / "cars_train_annos.mat"),
                               ("cars_test", xte, yte, root / "cars_test_annos_withlabels.mat")):
        files = [f"{i + 1:05d}.jpg" for i in range(len(ys))]
        (root / split).mkdir(exist_ok=True)
        for f, img in zip(files, xs):
            (root / split / f).write_bytes(jpeg_bytes(img))
        ann.write_bytes(_mat_bytes({"annotations": annotations(files, ys)}))


BUILDERS = {"mnist": _idx, "fmnist": _idx, "cifar10": _cifar10, "cifar100": _cifar100, "cifar10c": _cifar10c,
            "tinyimagenet": _tinyimagenet, "cub200": _cub200, "imagenet100": _imagenet,
            "flowers102": _flowers102, "stanfordcars": _stanfordcars}


def build(out_dir: str | Path, datasets: list[str] | None = None, *, seed: int = 0,
          per_class: dict[str, tuple[int, int]] | None = None) -> dict:
    """Write the miniature archives of ``datasets`` (default: every real one) under ``out_dir/<dataset>/``
    and return the ``data`` config fragment (url_overrides, checksums, imagenet_dir) that uses them."""
    from .download import file_digest
    out = Path(out_dir).absolute()
    names = list(datasets) if datasets is not None else list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise ValueError(f"no miniature for {unknown}; miniatures exist for {', '.join(BUILDERS)}")
    counts = {**PER_CLASS, **(per_class or {})}
    fragment: dict = {"url_overrides": {}, "checksums": {}}
    for i, name in enumerate(names):
        folder = out / ("imagenet" if name == "imagenet100" else name)
        folder.mkdir(parents=True, exist_ok=True)
        if name == "mnist" or name == "fmnist":
            BUILDERS[name](name, folder, np.random.default_rng(seed + i), *counts[name])
        else:
            BUILDERS[name](folder, np.random.default_rng(seed + i), *counts[name])
        if name == "imagenet100":
            fragment["imagenet_dir"] = str(folder)
            continue
        if name == "stanfordcars":      # a folder the user provides, as for ImageNet
            fragment["stanfordcars"] = {"folder": str(folder)}
            continue
        for remote in DATASETS[name].files:
            key = f"{name}/{remote.filename}"
            fragment["url_overrides"][key] = str(folder / remote.filename)
            fragment["checksums"][key] = f"sha256:{file_digest(folder / remote.filename)}"
    return fragment


def count_caps(config_files: list[str | Path], epochs: int = 1, batch_size: int = 16) -> dict:
    """``{recipe: {"training": {...}}}`` for every recipe of ``config_files`` (merged in order) that sets
    its own ``training.epochs`` (capped to ``epochs``) or ``training.batch_size`` (capped to
    ``batch_size``): a recipe's settings win over ``training:``, so an overlay that cuts counts must name
    each such recipe (its ``base`` children inherit the cut). The batch cap keeps third-order losses at
    224 px inside a CPU's memory (a batch of 64 ImageNet-100 images under the Hessian loss was OOM-killed)."""
    import yaml

    from ..config import merge
    cfg: dict = {}
    for f in config_files:
        cfg = merge(cfg, yaml.safe_load(Path(f).read_text()) or {})
    caps = {}
    for name, r in sorted((cfg.get("recipes") or {}).items()):
        training = (r or {}).get("training") or {}
        cut = {}
        if "epochs" in training:
            cut["epochs"] = min(int(training["epochs"]), epochs)
        if training.get("batch_size") is not None:
            cut["batch_size"] = min(int(training["batch_size"]), batch_size)
        if cut:
            caps[name] = {"training": cut}
    return caps


def write_overlay(out_dir: str | Path, datasets: list[str] | None = None, *, seed: int = 0,
                  recipes_from: list[str | Path] | None = None) -> Path:
    """``build`` and write its fragment as ``out_dir/overlay.yaml`` (a config file: ``data: {...}``), with
    ``recipes:`` capping every recipe of ``recipes_from`` (config files) that sets its own epochs or batch
    size to one epoch and a batch of 16 (:func:`count_caps`)."""
    import yaml

    from ..io import atomic_path
    cfg = {"data": build(out_dir, datasets, seed=seed)}
    if recipes_from:
        cfg["recipes"] = count_caps(recipes_from)
    path = Path(out_dir) / "overlay.yaml"
    with atomic_path(path) as tmp:
        Path(tmp).write_text("# written by `interprobust data miniature`: the miniature archives, their checksums"
                             + (" and one epoch and a batch of 16 per recipe" if recipes_from else "") + "\n"
                             + yaml.safe_dump(cfg, sort_keys=True))
    return path

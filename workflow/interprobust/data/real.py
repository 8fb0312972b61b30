"""Prepare the real datasets from their downloaded archives into the uniform on-disk format.

Every preparer is ``prepare_<name>(raw_dir, out_dir, **options) -> meta`` (``PREPARERS`` maps the
registry's ``kind == "real"`` names to them). It reads the archive(s) the download step verified in
``raw_dir``, extracts with :func:`~interprobust.data.download.safe_extract` into a scratch folder under
``out_dir`` that is removed afterwards, builds uint8 NHWC images and int64 labels and hands them to
:func:`~interprobust.data.store.write_prepared`. Large sets (CIFAR-10-C, TinyImageNet, CUB-200,
ImageNet-100) are decoded straight into ``.npy`` memory maps that are moved, not copied, into place.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import pickle
import shutil
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Sequence

import numpy as np

from ..io import progress
from . import store
from .download import DataError, file_digest, reading_archive, safe_extract
from .registry import CORRUPTIONS

MNIST_CLASSES = tuple(str(i) for i in range(10))
FMNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                  "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
DECODE_CHUNK = 512


# ------------------------------------------------------------------------------------------ helpers
def _archive(raw_dir: Path | None, filename: str, dataset: str) -> Path:
    """The downloaded file ``raw_dir/filename``, or a DataError saying how to get it."""
    hint = (f"download it first (interprobust data download --dataset {dataset} "
            f"--marker <raw folder>/verified.json) or drop {filename} into the raw folder by hand")
    if raw_dir is None:
        raise DataError(f"{dataset} needs the folder holding {filename}; {hint}")
    path = Path(raw_dir) / filename
    if not path.is_file():
        raise DataError(f"{path} not found; {hint}")
    return path


def _source(paths: Sequence[Path]) -> dict:
    """``source`` for meta.json: the SHA-256 of every input file."""
    return {"files": {p.name: f"sha256:{file_digest(p)}" for p in paths}}


@contextlib.contextmanager
def _scratch(out_dir: Path) -> Iterator[Path]:
    """A temporary folder under ``out_dir`` (same file system, so memory maps can be renamed out of it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".scratch-", dir=out_dir))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _open_images(scratch: Path, key: str, shape: tuple[int, ...]) -> np.memmap:
    """A uint8 ``.npy`` memory map in ``scratch`` to decode into (write_prepared moves it into place)."""
    return np.lib.format.open_memmap(scratch / f"{key}.npy", mode="w+", dtype=np.uint8, shape=shape)


def _require(folder: Path, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise DataError(f"{what} lacks {', '.join(missing)} under {folder}; is it the right archive? "
                        f"Delete it and download it again")


def _workers(workers: int | None) -> int:
    return max(1, int(workers)) if workers else min(8, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------ MNIST / FMNIST
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip'd when its name ends in .gz): 2 zero bytes, a type code, ndim, dims, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path} ({e}); delete it and download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 1
    if len(raw) != offset + count * dtype.itemsize:
        raise DataError(f"{path}: header says {dims} but the file holds {len(raw) - offset} data bytes")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def _prepare_idx(name: str, classes: Sequence[str], raw_dir: Path | None, out_dir: Path) -> dict:
    files = {key: _archive(raw_dir, fname, name) for key, fname in (
        ("train_x", "train-images-idx3-ubyte.gz"), ("train_y", "train-labels-idx1-ubyte.gz"),
        ("test_x", "t10k-images-idx3-ubyte.gz"), ("test_y", "t10k-labels-idx1-ubyte.gz"))}
    arrays = {key: read_idx(path) for key, path in files.items()}
    for key in ("train_x", "test_x"):
        if arrays[key].ndim != 3 or arrays[key].dtype != np.uint8:
            raise DataError(f"{files[key]} should hold uint8 images (N, H, W); got {arrays[key].dtype} "
                            f"{arrays[key].shape}")
        arrays[key] = arrays[key][..., None]
    return store.write_prepared(
        out_dir, name=name, classes=list(classes), source=_source(list(files.values())),
        train_x=arrays["train_x"], train_y=arrays["train_y"].astype(np.int64),
        test_x=arrays["test_x"], test_y=arrays["test_y"].astype(np.int64))


def prepare_mnist(raw_dir: Path | None, out_dir: Path) -> dict:
    """MNIST from its four gzip'd IDX files: 28x28x1, 60k train / 10k test."""
    return _prepare_idx("mnist", MNIST_CLASSES, raw_dir, Path(out_dir))


def prepare_fmnist(raw_dir: Path | None, out_dir: Path) -> dict:
    """Fashion-MNIST from its four gzip'd IDX files: 28x28x1, 60k train / 10k test."""
    return _prepare_idx("fmnist", FMNIST_CLASSES, raw_dir, Path(out_dir))


# ----------------------------------------------------------------------------------- CIFAR-10 / 100
class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's batches (dicts of lists, strings and numpy arrays) and nothing else."""

    _ALLOWED = {("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]
        if (module, name) not in self._ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}: a CIFAR batch holds only lists and "
                            f"numpy arrays (is the archive genuine?)")
        return super().find_class(module, name)


def _load_cifar_pickle(path: Path) -> dict:
    """One CIFAR batch or meta file as a dict with ``str`` keys (the files are Python 2 pickles)."""
    with open(path, "rb") as f:
        try:
            obj = _CifarUnpickler(f, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise DataError(f"cannot read the CIFAR batch {path} ({e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} does not hold a CIFAR batch (a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _cifar_batches(folder: Path, names: Sequence[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate CIFAR batches: ``data`` N x 3072 (CHW order) -> (N, 32, 32, 3) uint8, and labels."""
    xs, ys = [], []
    for name in names:
        batch = _load_cifar_pickle(folder / name)
        data = np.asarray(batch["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(f"{folder / name}: data should be N x 3072, got {data.shape}")
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _prepare_cifar(name: str, archive_name: str, folder: str, train: Sequence[str], test: Sequence[str],
                   meta_file: str, label_key: str, names_key: str, raw_dir: Path | None, out_dir: Path) -> dict:
    archive = _archive(raw_dir, archive_name, name)
    with _scratch(out_dir) as scratch:
        root = safe_extract(archive, scratch / "extracted") / folder
        _require(root, [*train, *test, meta_file], archive.name)
        classes = _names(_load_cifar_pickle(root / meta_file)[names_key])
        train_x, train_y = _cifar_batches(root, train, label_key)
        test_x, test_y = _cifar_batches(root, test, label_key)
    return store.write_prepared(out_dir, name=name, classes=classes, source=_source([archive]),
                                train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)


def prepare_cifar10(raw_dir: Path | None, out_dir: Path) -> dict:
    """CIFAR-10 from ``cifar-10-python.tar.gz``: 32x32x3, 50k train / 10k test."""
    return _prepare_cifar("cifar10", "cifar-10-python.tar.gz", "cifar-10-batches-py",
                          [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta",
                          "labels", "label_names", raw_dir, Path(out_dir))


def prepare_cifar100(raw_dir: Path | None, out_dir: Path) -> dict:
    """CIFAR-100 (the 100 fine labels) from ``cifar-100-python.tar.gz``: 32x32x3, 50k train / 10k test."""
    return _prepare_cifar("cifar100", "cifar-100-python.tar.gz", "cifar-100-python", ["train"], ["test"],
                          "meta", "fine_labels", "fine_label_names", raw_dir, Path(out_dir))


# ------------------------------------------------------------------------------------------ CIFAR-10-C
def _read_npy_into(f: io.BufferedIOBase, target: np.ndarray, where: str) -> None:
    """Stream a ``.npy`` file object into ``target`` (C-contiguous, same dtype and size), checking its header."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise DataError(f"{where}: unsupported .npy format version {version}")
    want = (int(np.prod(target.shape[:-3])),) + target.shape[-3:]
    if dtype != target.dtype or fortran or tuple(shape) != want:
        raise DataError(f"{where} should be {target.dtype} {want}; it is {dtype} {tuple(shape)}")
    view = memoryview(target.reshape(-1)).cast("B")
    done = 0
    while done < len(view):
        n = f.readinto(view[done:done + (1 << 24)])
        if not n:
            raise DataError(f"{where} is truncated ({done} of {len(view)} bytes); download it again")
        done += n


def prepare_cifar10c(raw_dir: Path | None, out_dir: Path) -> dict:
    """CIFAR-10-C from ``CIFAR-10-C.tar``, test only: test_x (19, 5, N, 32, 32, 3) in CORRUPTIONS order.

    Each ``CIFAR-10-C/<corruption>.npy`` holds 5N images, severity s in rows [(s-1)N, sN); ``labels.npy``
    holds the N test labels 5 times. N (10000 in the real set) is read from ``labels.npy``. The members
    are streamed from the (uncompressed) tar straight into a memory map: nothing is extracted and no
    second copy is held in memory.
    """
    out_dir = Path(out_dir)
    archive = _archive(raw_dir, "CIFAR-10-C.tar", "cifar10c")
    with reading_archive(archive, "tar"), tarfile.open(archive, "r:*") as tar, _scratch(out_dir) as scratch:
        members = {PurePosixPath(m.name).name: m for m in tar.getmembers()
                   if m.isfile() and m.name.endswith(".npy")}
        missing = [c for c in (*CORRUPTIONS, "labels") if f"{c}.npy" not in members]
        if missing:
            raise DataError(f"{archive} lacks {', '.join(f'{m}.npy' for m in missing)}; is it the right "
                            f"archive? Delete it and download it again")
        labels = np.load(io.BytesIO(tar.extractfile(members["labels.npy"]).read()), allow_pickle=False)
        if labels.ndim != 1 or len(labels) % 5:
            raise DataError(f"{archive}: labels.npy should hold 5 x N labels; it has shape {labels.shape}")
        n = len(labels) // 5
        per_severity = labels.reshape(5, n)
        if not (per_severity == per_severity[:1]).all():
            raise DataError(f"{archive}: labels.npy is not the test labels repeated 5 times")
        test_x = _open_images(scratch, "test_x", (len(CORRUPTIONS), 5, n, 32, 32, 3))
        for i, name in enumerate(progress(CORRUPTIONS, desc="CIFAR-10-C", unit="corruption")):
            _read_npy_into(tar.extractfile(members[f"{name}.npy"]), test_x[i], f"{archive}:{name}.npy")
        return store.write_prepared(
            out_dir, name="cifar10c", classes=list(CIFAR10_CLASSES), test_x=test_x,
            test_y=per_severity[0].astype(np.int64), corruptions=list(CORRUPTIONS), source=_source([archive]),
            info={"n_per_severity": n}, move_memmaps=True)


# ----------------------------------------------------------------------------------- JPEG decoding
def load_rgb(path: str | os.PathLike, resize: int | None = None, crop: int | None = None) -> np.ndarray:
    """Decode an image as uint8 RGB (H, W, 3), greyscale/CMYK converted to RGB.

    ``resize`` scales the shorter side to that many pixels (bilinear, the longer side truncated as
    torchvision's ``Resize(int)`` does); ``crop`` then takes the centred ``crop`` x ``crop`` square
    (torchvision's ``CenterCrop`` rounding).
    """
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if resize:
                w, h = im.size
                size = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
                im = im.resize(size, Image.BILINEAR)
            if crop:
                w, h = im.size
                if w < crop or h < crop:
                    raise DataError(f"{path}: {w}x{h} is smaller than the {crop}x{crop} crop")
                top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
                im = im.crop((left, top, left + crop, top + crop))
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot decode the image {path} ({e}); the archive may be damaged") from None


def _decode_into(out: np.ndarray, paths: Sequence[Path], loader: Callable[[Path], np.ndarray],
                 workers: int | None, desc: str) -> None:
    """Decode ``paths`` into ``out[i]`` in order, with a pool of threads (PIL releases the GIL)."""
    with ThreadPoolExecutor(_workers(workers)) as pool, progress(total=len(paths), desc=desc, unit="img") as bar:
        for start in range(0, len(paths), DECODE_CHUNK):
            chunk = paths[start:start + DECODE_CHUNK]
            for i, image in enumerate(pool.map(loader, chunk), start):
                if image.shape != out.shape[1:]:
                    raise DataError(f"{paths[i]} decodes to {image.shape}, expected {out.shape[1:]}")
                out[i] = image
            bar.update(len(chunk))


def _decode_split(scratch: Path, key: str, paths: Sequence[Path], size: int,
                  loader: Callable[[Path], np.ndarray], workers: int | None, desc: str) -> np.memmap:
    images = _open_images(scratch, key, (len(paths), size, size, 3))
    _decode_into(images, paths, loader, workers, desc)
    return images


def _resize_crop_loader(resize: int, crop: int) -> Callable[[Path], np.ndarray]:
    if crop > resize:
        raise DataError(f"crop ({crop}) must not exceed resize ({resize})")
    return lambda p: load_rgb(p, resize=resize, crop=crop)


# ------------------------------------------------------------------------------------ TinyImageNet
def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def prepare_tinyimagenet(raw_dir: Path | None, out_dir: Path, *, workers: int | None = None) -> dict:
    """TinyImageNet-200 from ``tiny-imagenet-200.zip``: 64x64x3, 100k train / 10k val used as test.

    Classes in ``wnids.txt`` order; training images per class in file-name order; val images in
    ``val_annotations.txt`` order. Greyscale images are converted to RGB.
    """
    out_dir = Path(out_dir)
    archive = _archive(raw_dir, "tiny-imagenet-200.zip", "tinyimagenet")
    with _scratch(out_dir) as scratch:
        root = safe_extract(archive, scratch / "extracted") / "tiny-imagenet-200"
        _require(root, ["wnids.txt", "train", "val/images", "val/val_annotations.txt"], archive.name)
        wnids = _read_lines(root / "wnids.txt")
        index = {w: i for i, w in enumerate(wnids)}
        train_paths, train_y = [], []
        for i, wnid in enumerate(wnids):
            files = sorted(p for p in (root / "train" / wnid / "images").glob("*")
                           if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataError(f"{archive.name}: no training images for class {wnid}")
            train_paths += files
            train_y += [i] * len(files)
        test_paths, test_y = [], []
        for line in _read_lines(root / "val" / "val_annotations.txt"):
            fname, wnid = line.split("\t")[:2]
            if wnid not in index:
                raise DataError(f"{archive.name}: val image {fname} has class {wnid}, not in wnids.txt")
            test_paths.append(root / "val" / "images" / fname)
            test_y.append(index[wnid])
        train_x = _decode_split(scratch, "train_x", train_paths, 64, load_rgb, workers, "TinyImageNet train")
        test_x = _decode_split(scratch, "test_x", test_paths, 64, load_rgb, workers, "TinyImageNet val")
        return store.write_prepared(
            out_dir, name="tinyimagenet", classes=wnids, source=_source([archive]),
            train_x=train_x, train_y=np.array(train_y, dtype=np.int64),
            test_x=test_x, test_y=np.array(test_y, dtype=np.int64),
            info={"test_split": "val"}, move_memmaps=True)


# ------------------------------------------------------------------------------------------- CUB-200
def _id_table(path: Path) -> dict[int, str]:
    """``<id> <value>`` lines -> {id: value}."""
    table = {}
    for line in _read_lines(path):
        key, value = line.split(maxsplit=1)
        table[int(key)] = value
    return table


def prepare_cub200(raw_dir: Path | None, out_dir: Path, *, resize: int = 256, crop: int = 224,
                   workers: int | None = None) -> dict:
    """CUB-200-2011 from ``CUB_200_2011.tgz`` with its official split (5,994 train / 5,794 test).

    Each image: RGB, shorter side resized to ``resize`` (bilinear), centre crop ``crop`` x ``crop``.
    Images in ``images.txt`` id order; labels from ``image_class_labels.txt`` (1-based in the file);
    class names from ``classes.txt`` without their ``NNN.`` prefix.
    """
    out_dir = Path(out_dir)
    loader = _resize_crop_loader(resize, crop)
    archive = _archive(raw_dir, "CUB_200_2011.tgz", "cub200")
    with _scratch(out_dir) as scratch:
        root = safe_extract(archive, scratch / "extracted") / "CUB_200_2011"
        _require(root, ["images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt"],
                 archive.name)
        images, labels = _id_table(root / "images.txt"), _id_table(root / "image_class_labels.txt")
        is_train = _id_table(root / "train_test_split.txt")
        class_ids = _id_table(root / "classes.txt")
        classes = [class_ids[k].split(".", 1)[-1] for k in sorted(class_ids)]
        split = {True: ([], []), False: ([], [])}
        for image_id in sorted(images):
            paths, ys = split[is_train[image_id].strip() == "1"]
            paths.append(root / "images" / images[image_id])
            ys.append(int(labels[image_id]) - 1)
        train_x = _decode_split(scratch, "train_x", split[True][0], crop, loader, workers, "CUB-200 train")
        test_x = _decode_split(scratch, "test_x", split[False][0], crop, loader, workers, "CUB-200 test")
        return store.write_prepared(
            out_dir, name="cub200", classes=classes, source=_source([archive]),
            train_x=train_x, train_y=np.array(split[True][1], dtype=np.int64),
            test_x=test_x, test_y=np.array(split[False][1], dtype=np.int64),
            info={"resize": resize, "crop": crop, "interpolation": "bilinear"}, move_memmaps=True)


# -------------------------------------------------------------------------------------- ImageNet-100
IMAGENET100_CLASS_LISTS = {
    # AGA's ImageNet-100: the WNIDs of RobustAGA's scripts/imagenet100_generation.sh (the paper's data)
    "aga": ("resources/imagenet100_aga_wnids.txt", "joshua840/RobustAGA scripts/imagenet100_generation.sh"),
    # CMC's ImageNet-100 (Tian et al.): shares 8 classes with AGA's
    "cmc": ("resources/imagenet100_classes.txt", "HobbitLong/CMC imagenet100.txt"),
}


def imagenet100_classes(class_list: str = "aga") -> list[str]:
    """The 100 WNIDs of an ImageNet-100 class list (``IMAGENET100_CLASS_LISTS``), in that file's order:
    ``aga`` (default, RobustAGA's) or ``cmc`` (CMC's ``imagenet100.txt``)."""
    if class_list not in IMAGENET100_CLASS_LISTS:
        raise DataError(f"unknown ImageNet-100 class list {class_list!r}; valid: {', '.join(IMAGENET100_CLASS_LISTS)}")
    text = resources.files("interprobust").joinpath(IMAGENET100_CLASS_LISTS[class_list][0]).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _squash_loader(size: int) -> Callable[[Path], np.ndarray]:
    """Decode an image as uint8 RGB resized (bilinear) to ``size`` x ``size``: the whole image, no crop."""
    def load(path):
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"cannot decode the image {path} ({e}); the archive may be damaged") from None
    return load


def _class_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _imagenet_root(imagenet_dir: str | os.PathLike | None) -> Path:
    fix = ("set the config key data.imagenet_dir to an extracted ImageNet-1k (ILSVRC2012) folder holding "
           "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (val sorted into class folders)")
    if not imagenet_dir:
        raise DataError(f"imagenet100 is built from your own copy of ImageNet-1k, and data.imagenet_dir is "
                        f"not set: {fix}")
    root = Path(os.path.expandvars(os.path.expanduser(str(imagenet_dir))))
    if not root.is_dir():
        raise DataError(f"data.imagenet_dir = {imagenet_dir!r} is not a folder: {fix}")
    return root


def _imagenet_split(root: Path, split: str, wnids: Sequence[str]) -> tuple[list[Path], list[int]]:
    """All images of ``wnids`` under ``root/split``; a DataError listing missing classes when incomplete."""
    per_class = {w: _class_images(root / split / w) for w in wnids}
    missing = [w for w in wnids if not per_class[w]]
    if missing:
        raise DataError(f"data.imagenet_dir = {str(root)!r} lacks {len(missing)} of the 100 ImageNet-100 "
                        f"classes in {split}/ (e.g. {', '.join(missing[:5])}): point data.imagenet_dir at a "
                        f"complete ImageNet-1k folder with {split}/<wnid>/*.JPEG")
    paths, ys = [], []
    for i, w in enumerate(wnids):
        paths += per_class[w]
        ys += [i] * len(per_class[w])
    return paths, ys


def prepare_imagenet100(raw_dir: Path | None, out_dir: Path, *, imagenet_dir: str | os.PathLike | None = None,
                        classes: str = "aga", resize: int = 256, crop: int = 224, train_size: int = 256,
                        workers: int | None = None) -> dict:
    """ImageNet-100 from the user's ImageNet-1k folder (``raw_dir`` is unused): the 100 classes of
    ``classes`` (``aga``: RobustAGA's list, the paper's data; ``cmc``: CMC's).

    Classes in sorted WNID order (what ``torchvision.datasets.ImageFolder`` gives a folder of these 100
    classes); the ImageNet val set is the test set. Training images are stored *resized only*: the whole
    image at ``train_size`` x ``train_size`` (bilinear, not cropped), so that training takes
    RandomResizedCrop(``crop``) + flip on the device (``training.resized_crop``). Test images are stored
    as the evaluation transform gives them: shorter side to ``resize``, centre crop ``crop`` (the
    deterministic Resize(256) + CenterCrop(224), computed once). Decoded straight into memory maps.
    """
    out_dir = Path(out_dir)
    root = _imagenet_root(imagenet_dir)
    if train_size < crop:
        raise DataError(f"imagenet100 train_size ({train_size}) must be at least the crop ({crop})")
    wnids = sorted(imagenet100_classes(classes))
    train_paths, train_y = _imagenet_split(root, "train", wnids)
    test_paths, test_y = _imagenet_split(root, "val", wnids)
    with _scratch(out_dir) as scratch:
        train_x = _decode_split(scratch, "train_x", train_paths, train_size, _squash_loader(train_size), workers,
                                "ImageNet-100 train")
        test_x = _decode_split(scratch, "test_x", test_paths, crop, _resize_crop_loader(resize, crop), workers,
                               "ImageNet-100 val")
        return store.write_prepared(
            out_dir, name="imagenet100", classes=wnids, train_x=train_x, train_y=np.array(train_y, np.int64),
            test_x=test_x, test_y=np.array(test_y, np.int64),
            source={"files": {}, "imagenet_dir": str(root), "class_list": IMAGENET100_CLASS_LISTS[classes][1]},
            info={"classes": classes, "train": f"whole image resized to {train_size}x{train_size} (bilinear)",
                  "test": f"resize {resize} + centre crop {crop}", "resize": resize, "crop": crop,
                  "train_size": train_size, "interpolation": "bilinear", "test_split": "val",
                  "class_order": "sorted wnid"}, move_memmaps=True)


# ---------------------------------------------------------------------- an ImageNet reference sample
def imagenet_sample(imagenet_dir: str | os.PathLike | None, n: int | None, seed: int, *, split: str = "val",
                    resize: int = 256, crop: int = 224, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, class-stratified sample of ``n`` ImageNet-1k images (every class folder of
    ``imagenet_dir/split``; None: all) as uint8 (n, crop, crop, 3) and their class indices (sorted WNID
    order). G-LIME clusters superpixels on ImageNet images (its Alg. 2)."""
    from .subsets import stratified_indices
    root = _imagenet_root(imagenet_dir)
    folder = root / split
    wnids = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not wnids:
        raise DataError(f"data.imagenet_dir = {str(root)!r} has no class folders under {split}/: point it at an "
                        f"extracted ImageNet-1k folder with {split}/<wnid>/*.JPEG")
    paths, ys = _imagenet_split(root, split, wnids)
    pick = stratified_indices(np.array(ys), n, seed)
    out = np.zeros((len(pick), crop, crop, 3), np.uint8)
    _decode_into(out, [paths[i] for i in pick], _resize_crop_loader(resize, crop), workers, f"ImageNet {split} sample")
    return out, np.asarray(ys, dtype=np.int64)[pick]


# ------------------------------------------------------------------------------ Oxford Flowers-102
def _mat_vector(path: Path, key: str) -> np.ndarray:
    """A 1-D integer vector stored under ``key`` in a MATLAB file (a DataError naming the file if absent)."""
    from scipy.io import loadmat
    try:
        mat = loadmat(path)
    except (ValueError, OSError, TypeError) as e:
        raise DataError(f"cannot read {path} as a MATLAB file ({e}); download it again") from None
    if key not in mat:
        raise DataError(f"{path} has no variable {key!r} (has {sorted(k for k in mat if not k.startswith('__'))}); "
                        f"is it the right file? Download it again")
    return np.asarray(mat[key]).reshape(-1).astype(np.int64)


def prepare_flowers102(raw_dir: Path | None, out_dir: Path, *, resize: int = 256, crop: int = 224,
                       workers: int | None = None) -> dict:
    """Oxford Flowers-102 from ``102flowers.tgz`` (``jpg/image_%05d.jpg``), ``imagelabels.mat`` (``labels``,
    1..102) and ``setid.mat`` (``trnid`` / ``valid`` / ``tstid``, 1-based image ids), torchvision's files.

    Training set = the official train and val splits (2,040 images, 20 per class; G-LIME does not say
    which split it fine-tunes on), test set = ``tstid`` (6,149). Images in id order; each RGB, shorter
    side resized to ``resize`` (bilinear), centre crop ``crop`` x ``crop``. Classes are the 102 label
    numbers (the files carry no names).
    """
    out_dir = Path(out_dir)
    loader = _resize_crop_loader(resize, crop)
    archive = _archive(raw_dir, "102flowers.tgz", "flowers102")
    labels = _mat_vector(_archive(raw_dir, "imagelabels.mat", "flowers102"), "labels")
    setid = _archive(raw_dir, "setid.mat", "flowers102")
    train_ids = np.sort(np.concatenate([_mat_vector(setid, "trnid"), _mat_vector(setid, "valid")]))
    test_ids = np.sort(_mat_vector(setid, "tstid"))
    with _scratch(out_dir) as scratch:
        root = safe_extract(archive, scratch / "extracted")
        for ids in (train_ids, test_ids):
            if ids.min() < 1 or ids.max() > len(labels):
                raise DataError(f"setid.mat names image ids outside 1..{len(labels)} (imagelabels.mat): "
                                f"the two files do not belong together; download them again")
        paths = lambda ids: [root / "jpg" / f"image_{i:05d}.jpg" for i in ids]   # noqa: E731
        _require(root, [str(p.relative_to(root)) for p in paths(np.concatenate([train_ids, test_ids]))],
                 archive.name)
        train_x = _decode_split(scratch, "train_x", paths(train_ids), crop, loader, workers, "Flowers-102 train")
        test_x = _decode_split(scratch, "test_x", paths(test_ids), crop, loader, workers, "Flowers-102 test")
        return store.write_prepared(
            out_dir, name="flowers102", classes=[str(c) for c in range(1, 103)],
            source=_source([archive, Path(raw_dir) / "imagelabels.mat", setid]),
            train_x=train_x, train_y=labels[train_ids - 1] - 1, test_x=test_x, test_y=labels[test_ids - 1] - 1,
            info={"resize": resize, "crop": crop, "interpolation": "bilinear", "train_split": "trnid + valid",
                  "test_split": "tstid"}, move_memmaps=True)


# ------------------------------------------------------------------------------------ Stanford Cars
STANFORD_CARS_LAYOUT = ("devkit/cars_meta.mat", "devkit/cars_train_annos.mat", "cars_train",
                        "cars_test", "cars_test_annos_withlabels.mat")


def _cars_root(folder: str | os.PathLike | None) -> Path:
    """The user's Stanford Cars folder in torchvision's ``StanfordCars`` layout, or a DataError saying
    where to put what."""
    layout = ", ".join(STANFORD_CARS_LAYOUT)
    fix = (f"Stanford Cars is not downloadable (its original URL is dead): put the dataset in a folder "
           f"holding {layout} (torchvision's StanfordCars layout; a parent holding stanford_cars/ works too) "
           f"and set the config key data.stanfordcars.folder to it")
    if not folder:
        raise DataError(f"stanfordcars is built from your own copy, and data.stanfordcars.folder is not set. {fix}")
    root = Path(os.path.expandvars(os.path.expanduser(str(folder))))
    if (root / "stanford_cars").is_dir() and not (root / "devkit").exists():
        root = root / "stanford_cars"
    if not root.is_dir():
        raise DataError(f"data.stanfordcars.folder = {str(folder)!r} is not a folder. {fix}")
    missing = [n for n in STANFORD_CARS_LAYOUT if not (root / n).exists()]
    if missing:
        raise DataError(f"data.stanfordcars.folder = {str(folder)!r} lacks {', '.join(missing)}. {fix}")
    return root


def _cars_annotations(path: Path) -> tuple[list[str], list[int]]:
    """(file names, 0-based classes) of a Stanford Cars annotation file (``annotations``: fname, class)."""
    from scipy.io import loadmat
    try:
        ann = loadmat(path, squeeze_me=True)["annotations"]
    except (KeyError, ValueError, OSError, TypeError) as e:
        raise DataError(f"cannot read the annotations of {path} ({e}); is it the devkit's file?") from None
    ann = np.atleast_1d(ann)
    try:
        return [str(a["fname"]) for a in ann], [int(a["class"]) - 1 for a in ann]
    except (ValueError, IndexError, KeyError) as e:
        raise DataError(f"{path}: annotations without fname / class fields ({e}); is it the devkit's file "
                        f"(the test annotations must be cars_test_annos_withlabels.mat)?") from None


def prepare_stanfordcars(raw_dir: Path | None, out_dir: Path, *, folder: str | os.PathLike | None = None,
                         resize: int = 256, crop: int = 224, workers: int | None = None) -> dict:
    """Stanford Cars (196 classes, 8,144 train / 8,041 test) from the user's folder (``raw_dir`` unused):
    ``devkit/cars_meta.mat`` (``class_names``), ``devkit/cars_train_annos.mat``, ``cars_train/``,
    ``cars_test/`` and ``cars_test_annos_withlabels.mat`` (torchvision's ``StanfordCars`` layout).
    Images in annotation order; each RGB, shorter side resized to ``resize`` (bilinear), centre crop
    ``crop`` x ``crop`` (the whole image, not the car's bounding box).
    """
    from scipy.io import loadmat
    out_dir = Path(out_dir)
    root = _cars_root(folder)
    loader = _resize_crop_loader(resize, crop)
    names = [str(n) for n in np.atleast_1d(loadmat(root / "devkit/cars_meta.mat", squeeze_me=True)["class_names"])]
    splits = {}
    for split, annos in (("train", root / "devkit/cars_train_annos.mat"), ("test", root / "cars_test_annos_withlabels.mat")):
        files, ys = _cars_annotations(annos)
        if ys and (min(ys) < 0 or max(ys) >= len(names)):
            raise DataError(f"{annos}: classes outside 1..{len(names)} (devkit/cars_meta.mat)")
        _require(root / f"cars_{split}", files, f"data.stanfordcars.folder ({root})")
        splits[split] = ([root / f"cars_{split}" / f for f in files], np.array(ys, dtype=np.int64))
    with _scratch(out_dir) as scratch:
        train_x = _decode_split(scratch, "train_x", splits["train"][0], crop, loader, workers, "Stanford Cars train")
        test_x = _decode_split(scratch, "test_x", splits["test"][0], crop, loader, workers, "Stanford Cars test")
        return store.write_prepared(
            out_dir, name="stanfordcars", classes=names, train_x=train_x, train_y=splits["train"][1],
            test_x=test_x, test_y=splits["test"][1], source={"files": {}, "folder": str(root)},
            info={"resize": resize, "crop": crop, "interpolation": "bilinear", "layout": "torchvision StanfordCars"},
            move_memmaps=True)


PREPARERS: dict[str, Callable[..., dict]] = {
    "mnist": prepare_mnist,
    "fmnist": prepare_fmnist,
    "cifar10": prepare_cifar10,
    "cifar100": prepare_cifar100,
    "cifar10c": prepare_cifar10c,
    "tinyimagenet": prepare_tinyimagenet,
    "cub200": prepare_cub200,
    "imagenet100": prepare_imagenet100,
    "flowers102": prepare_flowers102,
    "stanfordcars": prepare_stanfordcars,
}

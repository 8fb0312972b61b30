"""The real datasets' preparers on tiny archives built here in the real formats: download (file://) ->
verify -> extract -> prepare -> load, with exact pixel and label checks."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interprobust.data import registry, store
from interprobust.data.download import DataError, download_dataset
from interprobust.data.real import (CIFAR10_CLASSES, FMNIST_CLASSES, PREPARERS, imagenet100_classes,
                                    prepare_cifar10, prepare_cifar10c, prepare_cifar100, prepare_cub200,
                                    prepare_imagenet100, prepare_tinyimagenet, read_idx)
from interprobust.data.miniature import jpeg_bytes as _jpeg  # the writers the miniature archives use
from interprobust.data.miniature import npy_bytes as _npy
from interprobust.data.miniature import pickle_bytes as _pickle
from interprobust.data.miniature import tar_files as _tarball
from interprobust.data.miniature import write_idx as _write_idx
from interprobust.data.miniature import zip_files as _zip
from interprobust.data.registry import CORRUPTIONS, RemoteFile


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download(name: str, server: Path, raw: Path) -> dict:
    """Run the real download step for ``name`` with its files served from ``server`` via file:// URLs."""
    spec = registry.get(name)
    files = tuple(RemoteFile(((server / f.filename).as_uri(),), f.filename, sha256=_sha(server / f.filename))
                  for f in spec.files)
    return download_dataset(dataclasses.replace(spec, files=files), raw, progress=False)


def _no_leftovers(out: Path, expected: set[str]) -> None:
    assert {p.name for p in out.iterdir()} == expected   # no scratch folder, no temp .npy


def test_preparers_cover_exactly_the_real_datasets():
    assert set(PREPARERS) == {n for n, s in registry.DATASETS.items() if s.kind == "real"}


# ------------------------------------------------------------------------------------ MNIST / FMNIST
@pytest.mark.parametrize("name", ["mnist", "fmnist"])
def test_idx_download_prepare_roundtrip(tmp_path, name):
    rng = _rng(1)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 7, dtype=np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": np.array([9, 0, 4], dtype=np.uint8)}
    server = tmp_path / "server"
    server.mkdir()
    for fname, arr in arrays.items():
        _write_idx(server / fname, arr)
    checksums = _download(name, server, tmp_path / "raw")
    assert set(checksums) == set(arrays)
    meta = PREPARERS[name](tmp_path / "raw", tmp_path / "out")
    data = store.load_prepared(tmp_path / "out", verify=True)
    assert data.train_x.shape == (7, 28, 28, 1) and data.test_x.shape == (3, 28, 28, 1)
    assert np.array_equal(data.train_x[..., 0], arrays["train-images-idx3-ubyte.gz"])
    assert np.array_equal(data.test_x[..., 0], arrays["t10k-images-idx3-ubyte.gz"])
    assert data.test_y.dtype == np.int64 and data.test_y.tolist() == [9, 0, 4]
    assert np.array_equal(data.train_y, arrays["train-labels-idx1-ubyte.gz"])
    assert meta["classes"] == (list(FMNIST_CLASSES) if name == "fmnist" else [str(i) for i in range(10)])
    assert meta["source"]["files"] == {f: f"sha256:{_sha(server / f)}" for f in arrays}
    _no_leftovers(tmp_path / "out", {"meta.json", "train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"})


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"<html>404 not found</html>")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(path)


def test_preparing_without_the_download_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="interprobust data download --dataset mnist"):
        PREPARERS["mnist"](tmp_path / "empty", tmp_path / "out")
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        prepare_cifar10(None, tmp_path / "out")


# ---------------------------------------------------------------------------------- CIFAR-10 / 100
def _cifar_batch(rng, n: int, label_keys: dict[str, int]) -> dict:
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"batch_label": b"toy"}
    for key, k in label_keys.items():
        batch[key.encode()] = [int(v) for v in rng.integers(0, k, n)]
    return batch


def test_cifar10_download_prepare_roundtrip(tmp_path):
    rng = _rng(2)
    batches = {f"data_batch_{i}": _cifar_batch(rng, 2, {"labels": 10}) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(rng, 3, {"labels": 10})
    files = {f"cifar-10-batches-py/{k}": _pickle(v) for k, v in batches.items()}
    files["cifar-10-batches-py/batches.meta"] = _pickle({b"label_names": list(CIFAR10_CLASSES)})
    server = tmp_path / "server"
    server.mkdir()
    _tarball(server / "cifar-10-python.tar.gz", files)
    _download("cifar10", server, tmp_path / "raw")
    meta = prepare_cifar10(tmp_path / "raw", tmp_path / "out")
    data = store.load_prepared(tmp_path / "out", verify=True)
    train = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    assert data.train_x.shape == (10, 32, 32, 3) and data.test_x.shape == (3, 32, 32, 3)
    # the CHW rows: pixel (y, x) of channel c is data[c * 1024 + y * 32 + x]
    for i, y, x, c in [(0, 0, 0, 0), (3, 5, 7, 2), (9, 31, 30, 1)]:
        assert data.train_x[i, y, x, c] == train[i, c * 1024 + y * 32 + x]
    assert np.array_equal(data.train_x, train.reshape(10, 3, 32, 32).transpose(0, 2, 3, 1))
    assert np.array_equal(data.test_x[2, :, :, 1], batches["test_batch"][b"data"][2, 1024:2048].reshape(32, 32))
    assert data.train_y.tolist() == sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    assert data.test_y.tolist() == batches["test_batch"][b"labels"]
    assert meta["classes"] == list(CIFAR10_CLASSES)
    _no_leftovers(tmp_path / "out", {"meta.json", "train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"})


def test_cifar100_uses_the_fine_labels(tmp_path):
    rng = _rng(3)
    train = _cifar_batch(rng, 4, {"fine_labels": 100, "coarse_labels": 20})
    test = _cifar_batch(rng, 2, {"fine_labels": 100, "coarse_labels": 20})
    fine_names = [f"fine{i}" for i in range(100)]
    _tarball(tmp_path / "cifar-100-python.tar.gz", {
        "cifar-100-python/train": _pickle(train), "cifar-100-python/test": _pickle(test),
        "cifar-100-python/meta": _pickle({b"fine_label_names": fine_names,
                                          b"coarse_label_names": [f"c{i}" for i in range(20)]})})
    meta = prepare_cifar100(tmp_path, tmp_path / "out")
    data = store.load_prepared(tmp_path / "out")
    assert data.train_y.tolist() == train[b"fine_labels"] and data.test_y.tolist() == test[b"fine_labels"]
    assert meta["classes"] == fine_names and meta["num_classes"] == 100
    assert np.array_equal(data.test_x, test[b"data"].reshape(2, 3, 32, 32).transpose(0, 2, 3, 1))


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar_batches_refuse_arbitrary_pickled_objects(tmp_path):
    _tarball(tmp_path / "cifar-100-python.tar.gz", {
        "cifar-100-python/train": _pickle({b"data": _Evil()}), "cifar-100-python/test": _pickle({}),
        "cifar-100-python/meta": _pickle({b"fine_label_names": ["a"]})})
    with pytest.raises(DataError, match=r"refusing to unpickle (__builtin__|builtins)\.print"):
        prepare_cifar100(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out" / "meta.json").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []   # scratch removed


# ---------------------------------------------------------------------------------------- CIFAR-10-C
def _cifar10c_tar(path: Path, n: int, skip: tuple[str, ...] = ()) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = _rng(4)
    arrays = {c: rng.integers(0, 256, (5 * n, 32, 32, 3), dtype=np.uint8) for c in CORRUPTIONS}
    labels = rng.integers(0, 10, n).astype(np.uint8)
    with tarfile.open(path, "w") as tar:   # the real CIFAR-10-C.tar is uncompressed; members in any order
        for name in ["labels", *reversed(CORRUPTIONS)]:
            if name in skip:
                continue
            payload = _npy(np.tile(labels, 5) if name == "labels" else arrays[name])
            info = tarfile.TarInfo(f"CIFAR-10-C/{name}.npy")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return arrays, labels


def test_cifar10c_download_prepare_roundtrip(tmp_path):
    n = 3
    server = tmp_path / "server"
    server.mkdir()
    arrays, labels = _cifar10c_tar(server / "CIFAR-10-C.tar", n)
    _download("cifar10c", server, tmp_path / "raw")
    meta = prepare_cifar10c(tmp_path / "raw", tmp_path / "out")
    data = store.load_prepared(tmp_path / "out", verify=True)
    assert data.test_x.shape == (19, 5, n, 32, 32, 3) and data.train_x is None
    for ci, name in enumerate(CORRUPTIONS):
        for s in range(1, 6):
            assert np.array_equal(data.test_x[ci, s - 1], arrays[name][(s - 1) * n:s * n]), (name, s)
    assert data.test_y.dtype == np.int64 and np.array_equal(data.test_y, labels)
    assert meta["corruptions"] == list(CORRUPTIONS) and meta["severities"] == [1, 2, 3, 4, 5]
    assert meta["classes"] == list(CIFAR10_CLASSES) and meta["n_test"] == n
    assert meta["info"]["n_per_severity"] == n
    _no_leftovers(tmp_path / "out", {"meta.json", "test_x.npy", "test_y.npy"})


def test_cifar10c_names_a_missing_corruption(tmp_path):
    _cifar10c_tar(tmp_path / "CIFAR-10-C.tar", 2, skip=("fog",))
    with pytest.raises(DataError, match=r"lacks fog\.npy"):
        prepare_cifar10c(tmp_path, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_cifar10c_rejects_wrongly_shaped_members(tmp_path):
    _cifar10c_tar(tmp_path / "CIFAR-10-C.tar", 2)
    with tarfile.open(tmp_path / "CIFAR-10-C.tar", "a") as tar:   # a later member of the same name wins
        payload = _npy(np.zeros((10, 32, 32), dtype=np.uint8))
        info = tarfile.TarInfo("CIFAR-10-C/snow.npy")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(DataError, match=r"snow\.npy should be uint8 \(10, 32, 32, 3\)"):
        prepare_cifar10c(tmp_path, tmp_path / "out")


# --------------------------------------------------------------------------------------- JPEG helpers
def _decode(payload: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(payload)) as im:
        return np.asarray(im.convert("RGB"))


# --------------------------------------------------------------------------------------- TinyImageNet
def test_tinyimagenet_download_prepare_roundtrip(tmp_path):
    rng = _rng(5)
    wnids = ["n09999999", "n01443537", "n05555555"]     # not sorted: wnids.txt order is the class order
    root = "tiny-imagenet-200"
    files = {f"{root}/wnids.txt": ("\n".join(wnids) + "\n").encode(), f"{root}/words.txt": b""}
    train_payloads = []
    for w in wnids:
        for j in range(2):
            grey = w == "n01443537" and j == 1
            shape = (64, 64) if grey else (64, 64, 3)
            payload = _jpeg(rng.integers(0, 256, shape, dtype=np.uint8))
            files[f"{root}/train/{w}/images/{w}_{j}.JPEG"] = payload
            train_payloads.append(payload)
        files[f"{root}/train/{w}/{w}_boxes.txt"] = b""
    val = [("val_0.JPEG", "n05555555"), ("val_1.JPEG", "n09999999"), ("val_2.JPEG", "n05555555"),
           ("val_3.JPEG", "n01443537")]
    val_payloads = [_jpeg(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in val]
    for (fname, _), payload in zip(val, val_payloads):
        files[f"{root}/val/images/{fname}"] = payload
    files[f"{root}/val/val_annotations.txt"] = "".join(f"{f}\t{w}\t0\t0\t63\t63\n" for f, w in val).encode()
    server = tmp_path / "server"
    server.mkdir()
    _zip(server / "tiny-imagenet-200.zip", files)
    _download("tinyimagenet", server, tmp_path / "raw")
    meta = prepare_tinyimagenet(tmp_path / "raw", tmp_path / "out", workers=2)
    data = store.load_prepared(tmp_path / "out", verify=True)
    assert meta["classes"] == wnids
    assert data.train_x.shape == (6, 64, 64, 3) and data.test_x.shape == (4, 64, 64, 3)
    assert data.train_y.tolist() == [0, 0, 1, 1, 2, 2]
    assert data.test_y.tolist() == [2, 0, 2, 1]
    for i, payload in enumerate(train_payloads):
        assert np.array_equal(data.train_x[i], _decode(payload)), i
    for i, payload in enumerate(val_payloads):
        assert np.array_equal(data.test_x[i], _decode(payload)), i
    grey = data.train_x[3]                              # the greyscale one, replicated to RGB
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])
    _no_leftovers(tmp_path / "out", {"meta.json", "train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"})


def test_tinyimagenet_zip_with_traversal_is_refused(tmp_path):
    _zip(tmp_path / "tiny-imagenet-200.zip", {"tiny-imagenet-200/wnids.txt": b"n1\n", "../../evil.txt": b"x"})
    with pytest.raises(DataError, match=r"\.\./\.\./evil\.txt"):
        prepare_tinyimagenet(tmp_path, tmp_path / "out" / "tiny")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()
    assert list((tmp_path / "out" / "tiny").iterdir()) == []


# -------------------------------------------------------------------------------------------- CUB-200
CUB_COLOURS = [(220, 30, 30), (30, 200, 40), (40, 40, 210)]


def _cub_archive(path: Path) -> list[tuple[str, tuple[int, int], int, bool]]:
    """A CUB_200_2011.tgz with 3 classes; returns (relative path, (w, h), label, is_train) per image id."""
    images = [("001.Black_footed_Albatross/a.jpg", (40, 20), 0, True),
              ("002.Laysan_Albatross/b.jpg", (20, 30), 1, False),
              ("001.Black_footed_Albatross/c.jpg", (24, 24), 0, False),
              ("003.Sooty_Albatross/d.jpg", (33, 17), 2, True),
              ("002.Laysan_Albatross/e.jpg", (16, 50), 1, True)]
    root = "CUB_200_2011"
    files = {f"{root}/classes.txt": b"1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n"}
    for rel, size, label, _ in images:
        files[f"{root}/images/{rel}"] = _jpeg(Image.new("RGB", size, CUB_COLOURS[label]))
    # the first image: left half red, right half blue, to check the geometry of resize + centre crop
    half = np.zeros((20, 40, 3), dtype=np.uint8)
    half[:, :20] = (255, 0, 0)
    half[:, 20:] = (0, 0, 255)
    files[f"{root}/images/{images[0][0]}"] = _jpeg(half)
    files[f"{root}/images.txt"] = "".join(f"{i} {rel}\n" for i, (rel, *_) in enumerate(images, 1)).encode()
    files[f"{root}/image_class_labels.txt"] = "".join(f"{i} {lab + 1}\n" for i, (_, _, lab, _) in
                                                      enumerate(images, 1)).encode()
    files[f"{root}/train_test_split.txt"] = "".join(f"{i} {int(tr)}\n" for i, (*_, tr) in
                                                    enumerate(images, 1)).encode()
    _tarball(path, files)
    return images


def test_cub200_download_prepare_roundtrip(tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    images = _cub_archive(server / "CUB_200_2011.tgz")
    _download("cub200", server, tmp_path / "raw")
    meta = prepare_cub200(tmp_path / "raw", tmp_path / "out", resize=16, crop=12, workers=2)
    data = store.load_prepared(tmp_path / "out", verify=True)
    assert meta["classes"] == ["Black_footed_Albatross", "Laysan_Albatross", "Sooty_Albatross"]
    assert meta["info"]["resize"] == 16 and meta["info"]["crop"] == 12
    assert data.train_x.shape == (3, 12, 12, 3) and data.test_x.shape == (2, 12, 12, 3)
    assert data.train_y.tolist() == [0, 2, 1] and data.test_y.tolist() == [1, 0]   # images.txt id order
    # pixel-exact against an independent decode -> resize shorter side -> centre crop
    with tarfile.open(server / "CUB_200_2011.tgz") as tar:
        for x, idx in [(data.train_x[0], 0), (data.train_x[1], 3), (data.test_x[0], 1)]:
            with Image.open(tar.extractfile(f"CUB_200_2011/images/{images[idx][0]}")) as im:
                w, h = im.size
                size = (16, 16 * h // w) if w <= h else (16 * w // h, 16)
                r = im.convert("RGB").resize(size, Image.BILINEAR)
                left, top = round((r.width - 12) / 2), round((r.height - 12) / 2)
                assert np.array_equal(x, np.asarray(r.crop((left, top, left + 12, top + 12)))), idx
    # geometry: 40x20 -> 32x16 -> columns 10..21: six red columns then six blue ones
    first = data.train_x[0].astype(int)
    assert np.abs(first[:, :4] - (255, 0, 0)).max() < 40 and np.abs(first[:, -4:] - (0, 0, 255)).max() < 40
    # labels match the colour each class was painted in
    for x, y in [(data.train_x[1], 2), (data.train_x[2], 1), (data.test_x[0], 1), (data.test_x[1], 0)]:
        assert np.abs(x.reshape(-1, 3).mean(0) - CUB_COLOURS[y]).max() < 6
    _no_leftovers(tmp_path / "out", {"meta.json", "train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"})


def test_cub200_refuses_a_crop_larger_than_the_resize(tmp_path):
    _cub_archive(tmp_path / "CUB_200_2011.tgz")
    with pytest.raises(DataError, match="crop"):
        prepare_cub200(tmp_path, tmp_path / "out", resize=16, crop=20)


# --------------------------------------------------------------------------------------- ImageNet-100
def test_the_shipped_imagenet100_lists_are_agas_by_default_and_cmcs():
    cmc = imagenet100_classes("cmc")
    assert len(cmc) == 100 and len(set(cmc)) == 100
    assert all(re.fullmatch(r"n\d{8}", w) for w in cmc)
    assert cmc[:3] == ["n02869837", "n01749939", "n02488291"] and cmc[-1] == "n02090622"
    aga = imagenet100_classes()          # RobustAGA's scripts/imagenet100_generation.sh, in its order
    assert aga == imagenet100_classes("aga") and len(set(aga)) == 100
    assert aga[:3] == ["n01968897", "n01770081", "n01818515"] and aga[-1] == "n01514668"
    assert sorted(aga)[0] == "n01440764" and sorted(aga)[-1] == "n02077923"
    assert len(set(aga) & set(cmc)) == 8                # "another dataset": 8 classes in common
    with pytest.raises(DataError, match="class list"):
        imagenet100_classes("imagenet")


def _imagenet_colour(i: int) -> tuple[int, int, int]:
    return (i % 10) * 25 + 5, (i // 10) * 25 + 5, 128


def _imagenet_folder(root: Path, wnids: list[str], n_train: int = 1) -> None:
    for split, n in (("train", n_train), ("val", 1)):
        for w in wnids:
            folder = root / split / w
            folder.mkdir(parents=True)
            for j in range(n):
                i = sorted(imagenet100_classes()).index(w)
                Image.new("RGB", (12, 9), _imagenet_colour(i)).save(folder / f"{w}_{j}.JPEG", quality=95,
                                                                    subsampling=0)
    (root / "train" / wnids[0] / "README.txt").write_text("not an image")


def test_imagenet100_from_a_local_folder(tmp_path):
    wnids = imagenet100_classes()
    _imagenet_folder(tmp_path / "imagenet", wnids, n_train=1)
    extra = tmp_path / "imagenet" / "train" / wnids[5] / "extra.JPEG"   # a second image for one class
    Image.new("RGB", (12, 9), _imagenet_colour(sorted(wnids).index(wnids[5]))).save(extra, quality=95)
    (tmp_path / "imagenet" / "train" / "n99999999").mkdir()               # other ImageNet classes: ignored
    meta = prepare_imagenet100(None, tmp_path / "out", imagenet_dir=str(tmp_path / "imagenet"),
                               resize=9, crop=8, train_size=10, workers=2)
    data = store.load_prepared(tmp_path / "out", verify=True)
    assert meta["classes"] == sorted(wnids) and meta["info"]["classes"] == "aga"
    # training images: the whole 12x9 image resized to 10x10 (no crop: RandomResizedCrop at training time);
    # test images: resize 9 + centre crop 8 (the evaluation transform)
    assert data.train_x.shape == (101, 10, 10, 3) and data.test_x.shape == (100, 8, 8, 3)
    assert meta["image_size"] == [8, 8]
    assert data.test_y.tolist() == list(range(100))
    assert np.bincount(data.train_y).tolist() == [2 if c == wnids[5] else 1 for c in sorted(wnids)]
    for x, y in [*zip(data.train_x, data.train_y), *zip(data.test_x, data.test_y)]:
        assert np.abs(x.reshape(-1, 3).mean(0) - _imagenet_colour(int(y))).max() < 6
    _no_leftovers(tmp_path / "out", {"meta.json", "train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"})


def test_imagenet100_training_images_are_resized_whole(tmp_path):
    """A left-dark / right-bright image keeps both halves: resized, not centre-cropped."""
    wnids = imagenet100_classes()
    _imagenet_folder(tmp_path / "imagenet", wnids, n_train=1)
    first = sorted(wnids)[0]
    img = np.zeros((8, 40, 3), dtype=np.uint8)
    img[:, 36:] = 250                                       # only the outer right tenth is bright
    path = next((tmp_path / "imagenet" / "train" / first).glob("*.JPEG"))
    Image.fromarray(img).save(path, quality=95, subsampling=0)
    prepare_imagenet100(None, tmp_path / "out", imagenet_dir=str(tmp_path / "imagenet"),
                        resize=8, crop=8, train_size=8, workers=1)
    x = store.load_prepared(tmp_path / "out").train_x[0]
    assert x[:, -1].mean() > 150 and x[:, 0].mean() < 30    # a centre crop would have cut the bright edge
    with pytest.raises(DataError, match="train_size"):
        prepare_imagenet100(None, tmp_path / "out2", imagenet_dir=str(tmp_path / "imagenet"), crop=8, train_size=4)


@pytest.mark.parametrize("value", [None, "", "does/not/exist"])
def test_imagenet100_without_a_folder_names_the_config_key(tmp_path, value):
    path = None if value is None else (value if not value else str(tmp_path / value))
    with pytest.raises(DataError, match=r"data\.imagenet_dir"):
        PREPARERS["imagenet100"](None, tmp_path / "out", imagenet_dir=path)


def test_imagenet100_lists_missing_classes(tmp_path):
    wnids = imagenet100_classes()
    _imagenet_folder(tmp_path / "imagenet", wnids[3:])       # three classes missing from train and val
    with pytest.raises(DataError) as info:
        prepare_imagenet100(None, tmp_path / "out", imagenet_dir=tmp_path / "imagenet")
    msg = str(info.value)
    assert "data.imagenet_dir" in msg and "lacks 3 of the 100" in msg and "train/" in msg
    assert all(w in msg for w in wnids[:3])


# ----------------------------------------------------------------------------- store: memmap hand-over
def test_write_prepared_moves_whole_memmaps_and_copies_the_rest(tmp_path):
    out = tmp_path / "out"
    (out / "scratch").mkdir(parents=True)
    x = np.lib.format.open_memmap(out / "scratch" / "tx.npy", mode="w+", dtype=np.uint8, shape=(4, 2, 2, 3))
    x[:] = np.arange(48, dtype=np.uint8).reshape(4, 2, 2, 3)
    big = np.lib.format.open_memmap(out / "scratch" / "big.npy", mode="w+", dtype=np.uint8, shape=(6, 2, 2, 3))
    big[:] = 7
    store.write_prepared(out, name="t", classes=["a"], test_x=x, test_y=np.zeros(4), train_x=big[:5],
                         train_y=np.zeros(5), move_memmaps=True)
    assert not (out / "scratch" / "tx.npy").exists()            # moved, not copied
    assert (out / "scratch" / "big.npy").exists()               # a view of a memmap is copied
    data = store.load_prepared(out, verify=True)
    assert np.array_equal(data.test_x, np.arange(48).reshape(4, 2, 2, 3)) and data.train_x.shape == (5, 2, 2, 3)
    y = np.lib.format.open_memmap(out / "scratch" / "ty.npy", mode="w+", dtype=np.uint8, shape=(4, 2, 2, 3))
    store.write_prepared(out, name="t", classes=["a"], test_x=y, test_y=np.zeros(4))
    assert (out / "scratch" / "ty.npy").exists()                # the default still copies

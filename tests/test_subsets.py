import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from interprobust.data.subsets import (holdout_split, read_indices, stratified_indices,
                                       write_indices)


def class_sorted(n_classes=35, per=30):
    return np.repeat(np.arange(n_classes), per)


def test_a_class_sorted_set_is_covered_in_proportion():
    y = class_sorted(35, 30)                 # like CUB: stored in class order
    idx = stratified_indices(y, 350, seed=0)
    counts = np.bincount(y[idx], minlength=35)
    assert len(idx) == 350 and len(set(idx)) == 350
    assert (counts == 10).all()              # exactly proportional here
    assert (np.diff(idx) > 0).all()          # sorted
    first_n = np.unique(y[:350])
    assert len(first_n) < 35 and len(np.unique(y[idx])) == 35


def test_unequal_classes_get_proportional_counts_like_sklearn():
    rng = np.random.default_rng(1)
    y = rng.choice(7, size=2000, p=[.3, .2, .15, .15, .1, .05, .05])
    idx = stratified_indices(y, 300, seed=3)
    ours = np.bincount(y[idx], minlength=7)
    _, sk = train_test_split(np.arange(len(y)), test_size=300, stratify=y, random_state=3)
    theirs = np.bincount(y[sk], minlength=7)
    assert ours.sum() == 300
    assert np.abs(ours - theirs).max() <= 1
    assert np.abs(ours - 300 * np.bincount(y) / len(y)).max() < 1 + 1e-9


def test_every_class_is_covered_when_n_allows_even_rare_ones():
    y = np.array([0] * 500 + [1] * 500 + [2])
    idx = stratified_indices(y, 10, seed=0)
    assert set(y[idx]) == {0, 1, 2}


def test_fewer_draws_than_classes_and_whole_set_and_seeds():
    y = class_sorted(10, 5)
    assert len(np.unique(y[stratified_indices(y, 4, seed=0)])) == 4
    assert (stratified_indices(y, None, seed=0) == np.arange(50)).all()
    assert (stratified_indices(y, 999, seed=0) == np.arange(50)).all()
    a, b = stratified_indices(y, 20, 5), stratified_indices(y, 20, 5)
    assert (a == b).all() and not (a == stratified_indices(y, 20, 6)).all()
    with pytest.raises(ValueError, match="subset size"):
        stratified_indices(y, -1, 0)


def test_holdout_is_disjoint_and_complete():
    y = class_sorted(10, 20)
    rest, held = holdout_split(y, 50, seed=2)
    assert not set(rest) & set(held)
    assert len(rest) + len(held) == 200
    assert (np.bincount(y[held]) == 5).all()


def test_indices_round_trip_with_class_counts(tmp_path):
    y = class_sorted(3, 4)
    idx = stratified_indices(y, 6, seed=0)
    write_indices(tmp_path / "i.json", idx, labels=y, seed=0, split="test")
    assert (read_indices(tmp_path / "i.json") == idx).all()
    import json
    rec = json.loads((tmp_path / "i.json").read_text())
    assert rec["class_counts"] == {"0": 2, "1": 2, "2": 2} and rec["seed"] == 0

"""Atomic writes: a failed or killed write leaves nothing that counts as the output, stale temporaries
do not pile up, outputs follow the umask, and a write that the disk refuses names the file."""

from __future__ import annotations

import errno
import os
import stat

import pytest
import torch

from interprobust import io
from interprobust.io import WriteError, atomic_path, ensure_writable, write_text


def test_a_failed_write_leaves_no_output_and_no_temporary(tmp_path):
    out = tmp_path / "table.csv"
    with pytest.raises(ZeroDivisionError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            1 / 0
    assert list(tmp_path.iterdir()) == []


def test_a_stale_temporary_is_removed_by_the_next_successful_write(tmp_path):
    out = tmp_path / "model.pt"
    stale = tmp_path / ".model.pt.k3x_9a2q.pt"       # what a killed torch.save left behind
    stale.write_bytes(b"\0" * 1000)
    other = tmp_path / ".history.csv.abcd1234.csv"    # another output's temporary: not ours to remove
    other.write_text("x")
    lookalike = tmp_path / ".model.pt.bak.abcd1234.bak"
    lookalike.write_text("x")
    write_text(out, "weights")
    assert out.read_text() == "weights" and not stale.exists()
    assert other.exists() and lookalike.exists()


def test_the_output_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "a")
        os.umask(0o002)
        write_text(tmp_path / "b.txt", "b")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o664


def test_a_full_disk_names_the_destination(tmp_path):
    out = tmp_path / "arrays.npz"
    with pytest.raises(WriteError) as info:
        with atomic_path(out):
            raise OSError(errno.ENOSPC, "No space left on device")
    msg = str(info.value)
    assert str(out) in msg and "No space left on device" in msg and "free disk space" in msg
    assert list(tmp_path.iterdir()) == []


def test_a_torch_writer_failure_names_the_destination(tmp_path, monkeypatch):
    """torch.save on a full disk raises RuntimeError('... unexpected pos ...'), which names no file."""
    from interprobust.models.store import save_model

    def full_disk(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 8896 vs 8788")

    monkeypatch.setattr(torch, "save", full_disk)
    out = tmp_path / "model.pt"
    with pytest.raises(WriteError) as info:
        save_model(out, torch.nn.Linear(2, 2), {"signature": {}})
    msg = str(info.value)
    assert str(out) in msg and "unexpected pos" in msg and "free disk space" in msg and "writable" in msg
    assert list(tmp_path.iterdir()) == []


def test_a_bug_in_the_writer_is_not_called_a_disk_problem(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "out.txt"):
            open(tmp_path / "missing-input.txt")


def test_an_unwritable_output_folder_is_found_before_any_work(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(WriteError) as info:
        ensure_writable(tmp_path / "ok" / "history.csv", blocker / "models" / "model.pt")
    assert str(blocker / "models") in str(info.value) and "writable" in str(info.value)
    assert (tmp_path / "ok").is_dir() and list((tmp_path / "ok").iterdir()) == []   # the probe is gone
    with pytest.raises(WriteError, match="cannot write"):
        write_text(blocker / "x.txt", "x")


def test_stale_temporaries_match_only_mkstemp_names(tmp_path):
    (tmp_path / ".a.txt.short.txt").write_text("x")     # not 8 random characters: not a temporary of a.txt
    assert io.remove_stale_temporaries(tmp_path / "a.txt") == []

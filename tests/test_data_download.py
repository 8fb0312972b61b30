"""Downloading (file://, local paths and a local HTTP server), checksum verification, resuming, and safe
extraction of tar and zip archives, on small files the tests build themselves."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from interprobust.data import registry
from interprobust.data.download import (ChecksumError, DataError, DownloadError, UnsafeArchiveError,
                                        download_dataset, fetch, safe_extract, verify)
from interprobust.data.registry import DatasetSpec, RemoteFile

OFFLINE_URL = "http://127.0.0.1:9/archive.tar.gz"   # the discard port: nothing listens, refused at once


def _blob(n: int = 300_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _remote(data: bytes, urls: tuple[str, ...], filename: str = "archive.tar.gz", *, md5_only: bool = False,
            ) -> RemoteFile:
    if md5_only:
        return RemoteFile(urls, filename, md5=hashlib.md5(data).hexdigest())
    return RemoteFile(urls, filename, sha256=hashlib.sha256(data).hexdigest())


def _served_file(tmp_path: Path, data: bytes, name: str = "archive.tar.gz") -> Path:
    src = tmp_path / "server" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    return src


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ------------------------------------------------------------------------------------ local HTTP server
@pytest.fixture
def http_server():
    """Factory: serve ``blob`` at http://127.0.0.1:<port>/<name>, honouring Range headers unless told not
    to; returns (url, log of requests {range, status, sent})."""
    servers = []

    def start(blob: bytes, *, honour_range: bool = True, status: int = 200):
        log: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                rng = self.headers.get("Range")
                entry = {"range": rng, "status": status, "sent": 0}
                log.append(entry)
                if status != 200:
                    self.send_error(status)
                    return
                start_at = 0
                if rng and honour_range:
                    start_at = int(rng.removeprefix("bytes=").split("-")[0])
                    if start_at >= len(blob):
                        entry["status"] = 416
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    entry["status"] = 206
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start_at}-{len(blob) - 1}/{len(blob)}")
                else:
                    self.send_response(200)
                body = blob[start_at:]
                self.send_header("Content-Length", str(len(body)))
                entry["sent"] = len(body)   # recorded before sending: the client may finish first
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/archive.tar.gz", log

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------------- verify
def test_verify_prefers_sha256_over_md5(tmp_path):
    data = _blob(1000)
    path = _served_file(tmp_path, data)
    good_sha, good_md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    assert verify(path, RemoteFile((), path.name, sha256=good_sha, md5="0" * 32))
    assert not verify(path, RemoteFile((), path.name, sha256="0" * 64, md5=good_md5))
    assert verify(path, RemoteFile((), path.name, md5=good_md5))
    assert not verify(path, RemoteFile((), path.name, md5="0" * 32))
    assert not verify(tmp_path / "absent", RemoteFile((), "absent", md5=good_md5))


# -------------------------------------------------------------------------------------------- fetch
def test_fetch_file_url_verifies_and_renames(tmp_path):
    data = _blob()
    src = _served_file(tmp_path, data)
    dest = tmp_path / "raw"
    path = fetch(_remote(data, (src.as_uri(),)), dest, progress=False)
    assert path == dest / "archive.tar.gz"
    assert path.read_bytes() == data
    assert _tree(dest) == {"archive.tar.gz"}      # the .part was renamed, nothing else left


def test_fetch_plain_local_path_with_md5_only(tmp_path):
    data = _blob(5000, seed=1)
    src = _served_file(tmp_path, data, "tiny.zip")
    path = fetch(_remote(data, (str(src),), "tiny.zip", md5_only=True), tmp_path / "raw", progress=False)
    assert path.read_bytes() == data


def test_fetch_keeps_an_existing_verified_file_without_network(tmp_path):
    data = _blob(2000)
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "archive.tar.gz").write_bytes(data)
    before = (dest / "archive.tar.gz").stat().st_mtime_ns
    path = fetch(_remote(data, (OFFLINE_URL,)), dest, progress=False)
    assert path.stat().st_mtime_ns == before and path.read_bytes() == data


def test_fetch_replaces_a_damaged_existing_file(tmp_path, capsys):
    data = _blob(2000)
    src = _served_file(tmp_path, data)
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "archive.tar.gz").write_bytes(b"truncated")
    assert fetch(_remote(data, (src.as_uri(),)), dest, progress=False).read_bytes() == data
    assert (dest / "archive.tar.gz.bad").read_bytes() == b"truncated"   # kept aside, never deleted
    assert f"moved aside to {dest / 'archive.tar.gz.bad'}" in capsys.readouterr().out


def test_checksum_mismatch_deletes_the_file_and_says_what_to_do(tmp_path):
    data = _blob()
    src = _served_file(tmp_path, data)
    expected = hashlib.sha256(b"the genuine archive").hexdigest()
    remote = RemoteFile((src.as_uri(),), "archive.tar.gz", sha256=expected)
    dest = tmp_path / "raw"
    with pytest.raises(ChecksumError) as info:
        fetch(remote, dest, progress=False)
    msg = str(info.value)
    assert src.as_uri() in msg and expected in msg
    assert f"drop it at {dest / 'archive.tar.gz'}" in msg
    assert isinstance(info.value, DataError)
    assert _tree(dest) == set()                    # neither the .part nor the final file survives


def test_falls_back_to_the_next_mirror(tmp_path):
    data = _blob()
    src = _served_file(tmp_path, data)
    path = fetch(_remote(data, (OFFLINE_URL, src.as_uri())), tmp_path / "raw", progress=False, timeout=5)
    assert path.read_bytes() == data


def test_url_override_replaces_the_mirrors(tmp_path):
    data = _blob()
    src = _served_file(tmp_path, data)
    remote = _remote(data, (OFFLINE_URL,))
    assert fetch(remote, tmp_path / "raw", url_override=str(src), progress=False).read_bytes() == data


def test_offline_raises_a_clear_download_error(tmp_path):
    data = _blob(100)
    dest = tmp_path / "raw"
    with pytest.raises(DownloadError) as info:
        fetch(_remote(data, (OFFLINE_URL,)), dest, timeout=5, progress=False)
    msg = str(info.value)
    assert OFFLINE_URL in msg
    assert "offline" in msg
    assert str(dest / "archive.tar.gz") in msg and "by hand" in msg and "data.url_overrides" in msg
    assert "Traceback" not in msg
    assert info.value.__cause__ is None                    # no chained urllib traceback
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert not (dest / "archive.tar.gz.part").exists() and not (dest / "archive.tar.gz").exists()


def test_missing_local_file_is_a_download_error_not_offline(tmp_path):
    with pytest.raises(DownloadError) as info:
        fetch(_remote(b"x", ((tmp_path / "nope.tar").as_uri(),)), tmp_path / "raw", progress=False)
    assert "no such file" in str(info.value) and "offline" not in str(info.value)


def test_http_download(tmp_path, http_server):
    data = _blob()
    url, log = http_server(data)
    path = fetch(_remote(data, (url,)), tmp_path / "raw", progress=False)
    assert path.read_bytes() == data
    assert log == [{"range": None, "status": 200, "sent": len(data)}]


def test_http_resumes_from_a_partial_file(tmp_path, http_server):
    data = _blob()
    url, log = http_server(data)
    dest = tmp_path / "raw"
    dest.mkdir()
    have = 123_457
    (dest / "archive.tar.gz.part").write_bytes(data[:have])
    path = fetch(_remote(data, (url,)), dest, progress=False)
    assert path.read_bytes() == data
    assert log == [{"range": f"bytes={have}-", "status": 206, "sent": len(data) - have}]
    assert not (dest / "archive.tar.gz.part").exists()


def test_http_server_ignoring_range_restarts_cleanly(tmp_path, http_server):
    data = _blob()
    url, log = http_server(data, honour_range=False)
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "archive.tar.gz.part").write_bytes(b"\0" * 5000)   # would corrupt the file if appended to
    assert fetch(_remote(data, (url,)), dest, progress=False).read_bytes() == data
    assert log[0]["range"] == "bytes=5000-" and log[0]["sent"] == len(data)


def test_complete_part_file_is_finished_without_refetching(tmp_path, http_server):
    data = _blob(10_000)
    url, log = http_server(data)
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "archive.tar.gz.part").write_bytes(data)
    assert fetch(_remote(data, (url,)), dest, progress=False).read_bytes() == data
    assert log[0]["status"] == 416 and log[0]["sent"] == 0


def test_resuming_onto_a_bad_partial_file_fails_the_checksum_and_deletes_it(tmp_path, http_server):
    data = _blob()
    url, _ = http_server(data)
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "archive.tar.gz.part").write_bytes(b"\xff" * 1000)   # wrong bytes: the resumed file is bad
    with pytest.raises(ChecksumError) as info:
        fetch(_remote(data, (url,)), dest, progress=False)
    assert url in str(info.value)
    assert _tree(dest) == set()


def test_http_error_is_reported_without_claiming_offline(tmp_path, http_server):
    url, _ = http_server(b"", status=404)
    with pytest.raises(DownloadError) as info:
        fetch(_remote(b"abc", (url,)), tmp_path / "raw", progress=False)
    assert "HTTP 404" in str(info.value) and url in str(info.value) and "offline" not in str(info.value)


# ------------------------------------------------------------------------------------ download_dataset
def _spec(files: tuple[RemoteFile, ...], name: str = "toy") -> DatasetSpec:
    return DatasetSpec(name, "real", "toy", 8, 3, 2, files=files)


def test_download_dataset_uses_overrides_and_returns_checksums(tmp_path):
    a, b = _blob(3000, 1), _blob(4000, 2)
    src_a, src_b = _served_file(tmp_path, a, "a.bin"), _served_file(tmp_path, b, "b.bin")
    spec = _spec((_remote(a, (OFFLINE_URL,), "a.bin"), _remote(b, (OFFLINE_URL,), "b.bin", md5_only=True)))
    overrides = {"a.bin": src_a.as_uri(), "toy/b.bin": str(src_b), "b.bin": OFFLINE_URL}
    got = download_dataset(spec, tmp_path / "raw", overrides, progress=False)
    assert got == {"a.bin": f"sha256:{hashlib.sha256(a).hexdigest()}", "b.bin": f"md5:{hashlib.md5(b).hexdigest()}"}
    assert (tmp_path / "raw" / "a.bin").read_bytes() == a and (tmp_path / "raw" / "b.bin").read_bytes() == b


def test_download_dataset_refuses_the_user_provided_imagenet100(tmp_path):
    with pytest.raises(DataError, match="data.imagenet_dir"):
        download_dataset(registry.get("imagenet100"), tmp_path)


# -------------------------------------------------------------------------------------- safe_extract
def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in members.items():
            zf.writestr(zipfile.ZipInfo(name), payload)
    return path


MEMBERS = {"top/a.txt": b"alpha", "top/sub/b.bin": bytes(range(256)), "top/c.txt": b""}


@pytest.mark.parametrize("kind", ["w:gz", "w", "w:bz2", "zip"])
def test_safe_extract_roundtrip(tmp_path, kind):
    archive = (_zip(tmp_path / "x.zip", MEMBERS) if kind == "zip"
               else _tar(tmp_path / "x.tar", MEMBERS, kind))
    dest = safe_extract(archive, tmp_path / "out" / "dest")
    assert {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()} == set(MEMBERS)
    for name, payload in MEMBERS.items():
        assert (dest / name).read_bytes() == payload
    assert _tree(tmp_path / "out") == {"dest", *(str(Path("dest") / n) for n in ["top", "top/sub", *MEMBERS])}


def test_safe_extract_does_not_merge_into_an_existing_folder(tmp_path):
    archive = _tar(tmp_path / "x.tgz", MEMBERS)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(FileExistsError):
        safe_extract(archive, dest)
    safe_extract(archive, dest, overwrite=True)
    assert not (dest / "old.txt").exists() and (dest / "top/a.txt").read_bytes() == b"alpha"


@pytest.mark.parametrize("fmt,bad", [(fmt, bad) for fmt in ("tar.gz", "zip")
                                     for bad in ("../evil.txt", "top/../../evil.txt", "/tmp/interprobust_abs_evil.txt")])
def test_traversal_is_rejected_and_nothing_is_written(tmp_path, fmt, bad):
    work = tmp_path / "work"
    work.mkdir()
    build = _tar if fmt == "tar.gz" else _zip
    archive = build(work / f"bad.{fmt}", {"top/ok.txt": b"fine", bad: b"pwned"})
    before = _tree(tmp_path)
    with pytest.raises(UnsafeArchiveError) as info:
        safe_extract(archive, work / "dest")
    assert bad in str(info.value)
    assert _tree(tmp_path) == before                       # no dest, no temp folder, no evil.txt
    assert not Path("/tmp/interprobust_abs_evil.txt").exists()


@pytest.mark.parametrize("target", ["../../outside.txt", "/etc/passwd"])
def test_tar_link_pointing_outside_is_rejected(tmp_path, target):
    work = tmp_path / "work"
    work.mkdir()
    archive = work / "link.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("top/link")
        info.type = tarfile.SYMTYPE
        info.linkname = target
        tar.addfile(info)
    before = _tree(tmp_path)
    with pytest.raises(UnsafeArchiveError, match="top/link"):
        safe_extract(archive, work / "dest")
    assert _tree(tmp_path) == before




def test_a_damaged_archive_is_a_data_error(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(_blob(2000))
    with pytest.raises(DataError, match="not a readable tar archive"):
        safe_extract(archive, tmp_path / "dest")
    assert _tree(tmp_path) == {"broken.tar.gz"}


# --------------------------------------------------------------------- messages: the file, the cause, the fix
def _gz_archive(path: Path) -> bytes:
    with tarfile.open(path, "w:gz") as tar:
        for i in range(3):
            data = _blob(100_000, seed=i)
            info = tarfile.TarInfo(f"top/f{i}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


@pytest.mark.parametrize("keep", [100, 2000, 0.5])
def test_a_truncated_tar_gz_is_a_data_error_naming_it(tmp_path, keep):
    """A cut-short .tar.gz raises EOFError inside tarfile (no file name): say which archive, and what to do."""
    raw = _gz_archive(tmp_path / "full.tar.gz")
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(raw[:int(len(raw) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(DataError) as info:
        safe_extract(archive, tmp_path / "dest")
    msg = str(info.value)
    assert str(archive) in msg and "truncated or corrupt" in msg and "delete it and run again" in msg
    assert not (tmp_path / "dest").exists() and not any(p.name.startswith(".dest") for p in tmp_path.iterdir())


def test_a_truncated_zip_is_a_data_error_naming_it(tmp_path):
    full = tmp_path / "full.zip"
    with zipfile.ZipFile(full, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("top/a.bin", _blob(100_000))
    archive = tmp_path / "cut.zip"
    archive.write_bytes(full.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"cut\.zip is not a readable zip archive: it is truncated or corrupt"):
        safe_extract(archive, tmp_path / "dest")


def test_a_hand_dropped_file_that_fails_its_checksum_is_moved_aside_and_named(tmp_path):
    """Not deleted and then asked for at the same path: the message says it does not match (expected vs
    actual), where it went, and that the URLs could not replace it."""
    data = _blob(2000)
    dest = tmp_path / "raw"
    dest.mkdir()
    dropped = dest / "archive.tar.gz"
    dropped.write_bytes(b"another version of the archive")
    actual = hashlib.sha256(b"another version of the archive").hexdigest()
    with pytest.raises(DownloadError) as info:
        fetch(_remote(data, (OFFLINE_URL,)), dest, timeout=5, progress=False)
    msg = str(info.value)
    assert msg.startswith(f"The file at {dropped} does not match the published checksum (expected SHA256 "
                          f"{hashlib.sha256(data).hexdigest()}, got {actual}), so it was moved aside to {dropped}.bad")
    assert (dest / "archive.tar.gz.bad").read_bytes() == b"another version of the archive"
    assert not dropped.exists()
    with pytest.raises(DownloadError) as again:    # the next attempt still says what happened to it
        fetch(_remote(data, (OFFLINE_URL,)), dest, timeout=5, progress=False)
    assert f"moved aside to {dropped}.bad" in str(again.value)


def test_a_deterministic_checksum_failure_is_not_downloaded_again(tmp_path, http_server):
    """Snakemake retries the download job; a server that sent the wrong bytes in full sends them again,
    so the retry fails at once with the same message instead of downloading it again."""
    served = _blob()
    url, log = http_server(served)
    remote = RemoteFile((url,), "archive.tar.gz", sha256=hashlib.sha256(b"the genuine archive").hexdigest())
    dest = tmp_path / "raw"
    for attempt in range(3):
        with pytest.raises(ChecksumError) as info:
            fetch(remote, dest, progress=False)
        assert url in str(info.value) and hashlib.sha256(served).hexdigest() in str(info.value)
    assert len(log) == 1                                       # downloaded once, not three times
    record = dest / ".archive.tar.gz.checksum-failures.json"
    assert str(record) in str(info.value) and "to download from it again" in str(info.value)
    assert not (dest / "archive.tar.gz").exists() and not (dest / "archive.tar.gz.part").exists()
    record.unlink()                                            # the user asks for another try
    with pytest.raises(ChecksumError):
        fetch(remote, dest, progress=False)
    assert len(log) == 2

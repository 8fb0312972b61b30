"""Download, verify and safely extract the real datasets' archives.

``fetch`` tries each mirror of a :class:`~interprobust.data.registry.RemoteFile` in order (``http(s)://``
through urllib, ``file://`` URLs and plain local paths by copying), resumes an interrupted HTTP download
from its ``<name>.part`` file with a ``Range`` header, checks the SHA-256 (MD5 where that is all the
source publishes) and only then renames the ``.part`` onto the final name. Every failure a user can fix
(no network, a bad checksum, an unsafe or damaged archive) raises a :class:`DataError` whose message says
what went wrong and where to put the file by hand.

A file already at the final name that fails its checksum (one dropped there by hand) is never deleted:
it is moved aside to ``<name>.bad`` and the messages say so. A fresh HTTP download that fails its
checksum is deterministic (the server serves those bytes), so the URL and the digest it served are
remembered in ``.<name>.checksum-failures.json`` and the URL is not downloaded again on the next attempt
(Snakemake retries the download job): the job fails at once with the same message until that file is
deleted. A failure after resuming a ``.part`` is not remembered: the next attempt starts from scratch.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import lzma
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterator

from ..io import WriteError
from ..io import progress as progress_bar
from .registry import DatasetSpec, RemoteFile

CHUNK = 1 << 20
USER_AGENT = "interprobust-downloader/0.1 (+urllib)"


class DataError(RuntimeError):
    """A dataset problem the user can fix (the message says how)."""


class DownloadError(DataError):
    """No URL of a file could be fetched (offline, unreachable server, HTTP error, missing local file)."""


class ChecksumError(DataError):
    """A fetched file does not match its published checksum (a bad download has been deleted; a file that
    was already there has been moved aside to ``<name>.bad``)."""


class UnsafeArchiveError(DataError):
    """An archive member would be written outside the extraction folder (absolute path, ``..``, link)."""


# --------------------------------------------------------------------------------------- checksums
def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _expected(remote: RemoteFile) -> tuple[str, str] | None:
    """(algorithm, lower-case hex) of the checksum to verify: SHA-256 when given, else MD5, else None."""
    if remote.sha256:
        return "sha256", remote.sha256.lower()
    if remote.md5:
        return "md5", remote.md5.lower()
    return None


def verify(path: str | os.PathLike, remote: RemoteFile) -> bool:
    """Whether ``path`` exists and matches ``remote``'s SHA-256 (or its MD5 when no SHA-256 is known).

    A file without any published checksum verifies as long as it exists.
    """
    path = Path(path)
    if not path.is_file():
        return False
    expected = _expected(remote)
    if expected is None:
        return True
    algorithm, digest = expected
    return file_digest(path, algorithm) == digest


def checksum_label(path: str | os.PathLike, remote: RemoteFile | None = None) -> str:
    """``"<algorithm>:<hex>"`` of a verified file: the published checksum, or its SHA-256 when none is."""
    expected = _expected(remote) if remote is not None else None
    if expected is not None:
        return f"{expected[0]}:{expected[1]}"
    return f"sha256:{file_digest(path)}"


def _describe_checksum(remote: RemoteFile) -> str:
    expected = _expected(remote)
    return "no published checksum" if expected is None else f"{expected[0].upper()} {expected[1]}"


def _actual_digest(path: Path, remote: RemoteFile) -> str:
    """The file's digest in the algorithm ``remote`` publishes (``verify`` failed, so there is one)."""
    return file_digest(path, (_expected(remote) or ("sha256", ""))[0])


def _move_aside(final: Path, remote: RemoteFile) -> str:
    """Move a final file that fails its checksum to ``<name>.bad``; return the sentence that says so."""
    actual = _actual_digest(final, remote)
    bad = final.with_name(final.name + ".bad")
    os.replace(final, bad)
    return (f"the file at {final.absolute()} does not match the published checksum (expected "
            f"{_describe_checksum(remote)}, got {actual}), so it was moved aside to {bad.absolute()}: make "
            f"sure a copy you put there is the exact file the registry names")


def _moved_aside_note(final: Path) -> str:
    """On a later attempt: the reminder that an earlier copy at ``final`` was moved aside."""
    bad = final.with_name(final.name + ".bad")
    return (f" (A copy at {final.absolute()} did not match the checksum and was moved aside to {bad.absolute()}: "
            f"a copy you put there must be the exact file the registry names.)") if bad.exists() else ""


def _failures_record(final: Path) -> Path:
    return final.with_name(f".{final.name}.checksum-failures.json")


def _remembered_failures(final: Path, remote: RemoteFile) -> dict[str, str]:
    """{url: digest it served} of earlier fresh downloads of ``remote`` that failed its current checksum."""
    try:
        record = json.loads(_failures_record(final).read_text())
    except (OSError, ValueError):
        return {}
    expected = _describe_checksum(remote)
    return {url: r["actual"] for url, r in record.items()
            if isinstance(r, dict) and r.get("expected") == expected and "actual" in r}


def _remember_failure(final: Path, remote: RemoteFile, url: str, actual: str) -> None:
    from ..io import write_json
    record = {u: {"expected": _describe_checksum(remote), "actual": a}
              for u, a in _remembered_failures(final, remote).items()}
    record[url] = {"expected": _describe_checksum(remote), "actual": actual}
    write_json(_failures_record(final), record)


# ----------------------------------------------------------------------------------------- fetching
@dataclass
class _Failure:
    url: str
    reason: str
    network: bool = False    # a connection-level failure (offline, DNS, refused, timeout)
    checksum: bool = False   # the bytes arrived but did not match


def _local_source(url: str) -> Path | None:
    """The local path a ``file://`` URL or plain path names; None for any other URL scheme."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "":
        return Path(url)
    return None


def _copy_local(src: Path, part: Path, show: bool) -> None:
    """Copy a local file onto ``part`` (always from the start: a local copy is cheap)."""
    if not src.is_file():
        raise FileNotFoundError(f"no such file: {src}")
    total = src.stat().st_size
    with open(src, "rb") as fin, open(part, "wb") as fout, \
            progress_bar(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                         desc=part.name.removesuffix(".part"), disable=not show) as bar:
        for chunk in iter(lambda: fin.read(CHUNK), b""):
            fout.write(chunk)
            bar.update(len(chunk))


def _http_download(url: str, part: Path, timeout: float, show: bool) -> None:
    """Download ``url`` onto ``part``, resuming from its current size with a Range request."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:   # nothing left to fetch: the .part is already complete (or wrong)
            e.close()
            return
        raise
    with response:
        status = getattr(response, "status", 200)
        if have and status != 206:   # the server ignored the Range header: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None and length.isdigit() else None
        with open(part, "ab" if have else "wb") as fout, \
                progress_bar(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=part.name.removesuffix(".part"), disable=not show) as bar:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                fout.write(chunk)
                bar.update(len(chunk))
        if total is not None and part.stat().st_size < total:
            raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def _try_url(url: str, part: Path, timeout: float, show: bool) -> _Failure | None:
    """Fetch ``url`` onto ``part``; a failure is returned (never raised) so the next mirror can be tried."""
    local = _local_source(url)
    try:
        if local is not None:
            _copy_local(local, part, show)
        elif urllib.parse.urlparse(url).scheme in ("http", "https"):
            _http_download(url, part, timeout, show)
        else:
            return _Failure(url, f"unsupported URL scheme {urllib.parse.urlparse(url).scheme!r}")
    except urllib.error.HTTPError as e:
        return _Failure(url, f"HTTP {e.code} {e.reason}")
    except urllib.error.URLError as e:
        return _Failure(url, f"cannot connect ({e.reason})", network=True)
    except (socket.timeout, TimeoutError) as e:
        return _Failure(url, f"timed out ({e})", network=True)
    except (ConnectionError, socket.gaierror, http.client.HTTPException) as e:
        return _Failure(url, f"connection failed ({type(e).__name__}: {e})", network=True)
    except FileNotFoundError as e:
        return _Failure(url, str(e))
    except OSError as e:
        return _Failure(url, f"{type(e).__name__}: {e}")
    return None


def _by_hand(remote: RemoteFile, final: Path) -> str:
    size = f" ({remote.size:,} bytes)" if remote.size else ""
    return (f"Download {remote.filename}{size} by hand and drop it at {final.absolute()} (it must match "
            f"{_describe_checksum(remote)}), or point the config key data.url_overrides at a mirror or "
            f"local copy: {{\"{remote.filename}\": \"<url or path>\"}} (a copy with other bytes also needs "
            f"its checksum in data.checksums: {{\"{remote.filename}\": \"sha256:<hex>\"}}).")


def _raise_for(failures: list[_Failure], remote: RemoteFile, final: Path, moved: str | None = None) -> None:
    listing = "; ".join(f"{f.url}: {f.reason}" for f in failures)
    first = f"{moved[0].upper()}{moved[1:]}. " if moved else ""
    note = "" if moved else _moved_aside_note(final)
    if any(f.checksum for f in failures):
        raise ChecksumError(
            f"{first}{remote.filename} failed checksum verification; tried {listing}. Expected "
            f"{_describe_checksum(remote)}. The bad download was deleted. The file may be truncated or "
            f"the mirror may serve a different version. {_by_hand(remote, final)}{note}")
    offline = failures and all(f.network for f in failures)
    why = ("This machine seems to be offline (or cannot reach these servers)."
           if offline else "No URL worked.")
    raise DownloadError(f"{first}Could not download {remote.filename} from any of its {len(failures)} URL(s): "
                        f"{listing}. {why} {_by_hand(remote, final)}{note}")


def fetch(remote: RemoteFile, dest_dir: str | os.PathLike, *, url_override: str | None = None,
          timeout: float = 60, progress: bool = True) -> Path:
    """Download ``remote`` into ``dest_dir`` and verify it; return the final path.

    ``url_override`` (a URL, ``file://`` URL or local path) replaces the mirror list. An existing final
    file that verifies is kept as is; one that does not is deleted and fetched again. Downloads go to
    ``<name>.part`` (an HTTP download resumes from it) and are renamed onto the final name only after
    the checksum matches; a mismatching file is deleted and :class:`ChecksumError` raised. When no URL
    can be reached, :class:`DownloadError` says where to put the file by hand.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / remote.filename
    part = dest_dir / f"{remote.filename}.part"
    moved = None
    if final.exists():
        if verify(final, remote):
            return final
        moved = _move_aside(final, remote)   # a damaged copy, or a wrong one dropped by hand: keep it
        print(f"{moved}; fetching it again", flush=True)
    urls = (url_override,) if url_override else tuple(remote.urls)
    if not urls:
        raise DownloadError(f"{remote.filename} has no URL to download from. {_by_hand(remote, final)}")
    remembered = _remembered_failures(final, remote)
    failures: list[_Failure] = []
    for url in urls:
        if url in remembered:   # the same bytes again would fail the same way: do not download them again
            failures.append(_Failure(url, f"checksum mismatch (it served {remembered[url]} on an earlier attempt; "
                                          f"delete {_failures_record(final)} to download from it again)",
                                     checksum=True))
            continue
        resumed = part.exists()
        failure = _try_url(url, part, timeout, progress)
        if failure is None:
            if verify(part, remote):
                os.replace(part, final)
                _failures_record(final).unlink(missing_ok=True)
                return final
            actual = _actual_digest(part, remote)
            failure = _Failure(url, f"checksum mismatch (got {actual})", checksum=True)
            part.unlink(missing_ok=True)
            if not resumed and urllib.parse.urlparse(url).scheme in ("http", "https"):
                _remember_failure(final, remote, url, actual)
        failures.append(failure)
    _raise_for(failures, remote, final, moved)
    raise AssertionError("unreachable")  # pragma: no cover


def parse_checksum(text: str, where: str = "data.checksums") -> tuple[str, str]:
    """``"sha256:<64 hex>"`` or ``"md5:<32 hex>"`` -> (algorithm, lower-case hex); a clear error otherwise."""
    algorithm, _, digest = str(text).partition(":")
    lengths = {"sha256": 64, "md5": 32}
    digest = digest.strip().lower()
    if algorithm.lower() not in lengths or len(digest) != lengths[algorithm.lower()] \
            or any(c not in "0123456789abcdef" for c in digest):
        raise DataError(f"{where}: {text!r} is not a checksum; write \"sha256:<64 hex digits>\" or "
                        f"\"md5:<32 hex digits>\" (e.g. the output of `sha256sum <file>`)")
    return algorithm.lower(), digest


def with_checksum(remote: RemoteFile, text: str | None, where: str = "data.checksums") -> RemoteFile:
    """``remote`` verified against ``text`` ("sha256:..." / "md5:...") instead of its published checksum:
    for a private mirror that serves other bytes (a repacked archive, the miniature archives)."""
    if not text:
        return remote
    import dataclasses
    algorithm, digest = parse_checksum(text, where)
    return dataclasses.replace(remote, sha256=digest if algorithm == "sha256" else None,
                               md5=digest if algorithm == "md5" else None, size=None)


def download_dataset(spec: DatasetSpec, dest_dir: str | os.PathLike,
                     url_overrides: dict[str, str] | None = None, *, timeout: float = 60,
                     progress: bool = True, checksums: dict[str, str] | None = None) -> dict[str, str]:
    """Fetch and verify every file of ``spec`` into ``dest_dir``; return ``{filename: "<algo>:<hex>"}``.

    ``url_overrides`` maps a file name (or ``"<dataset>/<file name>"``, which wins, for names that
    several datasets share such as MNIST's and Fashion-MNIST's) to a URL or local path. ``checksums``
    (keyed the same way, ``"sha256:<hex>"`` or ``"md5:<hex>"``) replaces a file's published checksum:
    the file fetched must then match that one instead (config key ``data.checksums``).
    """
    if spec.user_provided and not spec.files:
        raise DataError(f"{spec.name} is not downloaded: it is built from a local folder "
                        f"(see the config key data.imagenet_dir)")
    overrides, given = dict(url_overrides or {}), dict(checksums or {})
    verified: dict[str, str] = {}
    for remote in spec.files:
        key = f"{spec.name}/{remote.filename}"
        override = overrides.get(key, overrides.get(remote.filename))
        remote = with_checksum(remote, given.get(key, given.get(remote.filename)), f"data.checksums[{key!r}]")
        path = fetch(remote, dest_dir, url_override=override, timeout=timeout, progress=progress)
        verified[remote.filename] = checksum_label(path, remote)
    return verified


# --------------------------------------------------------------------------------------- extraction
def _bad_member_name(name: str) -> str | None:
    """Why an archive member name is unsafe (absolute, drive-qualified, or with a ``..`` part), or None."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(name).drive or name.startswith(("/", "\\")):
        return "absolute path"
    if ".." in posix.parts:
        return "path traversal ('..')"
    return None


@contextlib.contextmanager
def reading_archive(archive: str | os.PathLike, kind: str) -> Iterator[None]:
    """Turn what a truncated or corrupt ``kind`` ("tar", "zip") archive raises while it is read
    (``EOFError``, ``zlib.error``, ``tarfile.ReadError``, ...: none names the file) into a
    :class:`DataError` naming ``archive``; file-system errors (with an errno) pass through."""
    try:
        yield
    except (tarfile.ReadError, tarfile.CompressionError, zipfile.BadZipFile, EOFError, zlib.error,
            lzma.LZMAError, OSError) as e:
        if isinstance(e, OSError) and (e.errno is not None or isinstance(e, WriteError)):
            raise   # the file system's (or an output's) error, not the archive's
        raise DataError(f"{archive} is not a readable {kind} archive: it is truncated or corrupt "
                        f"({type(e).__name__}: {e}); delete it and run again to download it again") from None


def _extract_tar(archive: Path, into: Path) -> None:
    with reading_archive(archive, "tar"), tarfile.open(archive, "r:*") as tar:
        for member in tar.getmembers():
            why = _bad_member_name(member.name)
            if why:
                raise UnsafeArchiveError(f"refusing to extract {archive}: member {member.name!r} "
                                         f"has an unsafe name ({why})")
        try:
            tar.extractall(into, filter="data")
        except tarfile.FilterError as e:
            name = getattr(getattr(e, "tarinfo", None), "name", "?")
            raise UnsafeArchiveError(f"refusing to extract {archive}: member {name!r} is unsafe ({e})") \
                from None


def _extract_zip(archive: Path, into: Path) -> None:
    with reading_archive(archive, "zip"), zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            why = _bad_member_name(name)
            if why:
                raise UnsafeArchiveError(f"refusing to extract {archive}: member {name!r} "
                                         f"has an unsafe name ({why})")
        zf.extractall(into)


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Extract a tar (any compression) or zip archive into ``dest``, refusing unsafe members.

    Members with absolute paths or ``..`` parts are refused up front (:class:`UnsafeArchiveError`
    naming the member); tar archives are additionally extracted with ``filter="data"``, which refuses
    links pointing outside, device files and the like. Everything goes to a temporary folder next to
    ``dest`` that is renamed onto ``dest`` only when extraction succeeded. An existing ``dest`` is an
    error unless ``overwrite`` (then it is replaced) or it is an empty folder.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        if overwrite:
            pass
        elif dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        else:
            raise FileExistsError(f"{dest} already exists; remove it or pass overwrite=True")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        with reading_archive(archive, "tar"):   # is_tarfile reads (and may hit the end of) a damaged file
            is_zip = archive.suffix.lower() == ".zip" or (not tarfile.is_tarfile(archive)
                                                          and zipfile.is_zipfile(archive))
        if is_zip:
            _extract_zip(archive, tmp)
        else:
            _extract_tar(archive, tmp)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest

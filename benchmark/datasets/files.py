"""Where dataset files come from: a local data folder (``--data-dir`` / ``LANGGAN_DATA``), else a verified
download into the per-user cache.

Downloads go through pooch. With a sha256, pooch downloads to a temporary file and moves it into place only
after the check. A file identified by its git blob id (SHA-1 of ``blob <size>\\0`` + content) is checked
inside a wrapped downloader, before pooch moves it, so a truncated download never lands in the cache; files
already in the cache are checked again on every use.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from langgan_bench.core.cache import cache_dir
from langgan_bench.core.errors import MachineFault, UserError, is_fault

#: Environment variables a user can set (documented in the README).
ENV_DATA = "LANGGAN_DATA"  # a folder laid out like ../shared/data, for machines without network
ENV_MIRROR = "LANGGAN_MIRROR"  # a base URL serving files as <folder>/<name> instead of their origin


@dataclass(frozen=True)
class RemoteFile:
    """One data file: where it lives in a data folder, where it is downloaded from, and how it is checked."""

    folder: str  # sub-folder of the data folder / cache, e.g. "seqgan_oracle"
    name: str
    url: str
    sha256: str | None = None
    git_blob: str | None = None

    def __post_init__(self) -> None:
        if not (self.sha256 or self.git_blob):
            raise ValueError(f"{self.name}: a remote file needs a sha256 or a git blob id")


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The local data folder: ``--data-dir`` first, then ``LANGGAN_DATA``; None if neither is set."""
    raw = explicit if explicit not in (None, "") else os.environ.get(ENV_DATA) or None
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        source = "--data-dir" if explicit not in (None, "") else ENV_DATA
        raise UserError(f"data folder {path} (from {source}) does not exist or is not a folder")
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_blob_of(path: Path) -> str:
    """Git's blob id of a file: SHA-1 over ``blob <size>\\0`` followed by the content."""
    h = hashlib.sha1()
    h.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, remote: RemoteFile) -> str | None:
    """None if the file matches its checksum, else a one-line reason."""
    if remote.sha256 and (got := sha256_of(path)) != remote.sha256:
        return f"{path} has sha256 {got}, expected {remote.sha256}"
    if remote.git_blob and (got := git_blob_of(path)) != remote.git_blob:
        return f"{path} has git blob id {got}, expected {remote.git_blob}"
    return None


def source_url(remote: RemoteFile) -> str:
    mirror = os.environ.get(ENV_MIRROR)
    if mirror:
        return f"{mirror.rstrip('/')}/{remote.folder}/{remote.name}"
    return remote.url


def locate(remote: RemoteFile, data_folder: Path | None, download: bool = True) -> Path:
    """The verified local path of ``remote``: from the data folder if it has it, else from the cache
    (downloading it there if ``download``). Raises UserError with a one-line reason otherwise."""
    if data_folder is not None:
        local = data_folder / remote.folder / remote.name
        if local.is_file():
            if (problem := verify(local, remote)) is not None:
                raise UserError(f"corrupt data file: {problem}")
            return local
    cached = cache_dir() / remote.folder / remote.name
    if cached.is_file():
        if verify(cached, remote) is None:
            return cached
        cached.unlink()  # a stale or damaged copy never counts as present
    if not download:
        where = f"{data_folder / remote.folder}" if data_folder else f"${ENV_DATA}/{remote.folder}"
        raise UserError(
            f"missing data file {remote.name}: run `langgan-bench data fetch` for its dataset, or put it in {where}"
        )
    return fetch(remote)


def fetch(remote: RemoteFile) -> Path:
    """Download ``remote`` into the cache and verify it before it is moved into place."""
    import pooch
    import requests

    target = cache_dir() / remote.folder
    url = source_url(remote)
    base = pooch.HTTPDownloader(progressbar=False, timeout=60)

    def checked_download(url: str, output_file: str, pup: object) -> None:
        base(url, output_file, pup)
        if remote.git_blob and (got := git_blob_of(Path(output_file))) != remote.git_blob:
            raise ValueError(f"git blob id {got} does not match the expected {remote.git_blob}")

    try:
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{remote.sha256}" if remote.sha256 else None,
            fname=remote.name,
            path=target,
            downloader=checked_download,
            progressbar=False,
        )
    except ValueError as e:
        raise UserError(f"download of {remote.name} from {url} failed verification: {_one_line(e)}") from None
    except OSError as e:  # requests' errors are OSErrors too
        if is_fault(e) and not isinstance(e, requests.exceptions.RequestException):  # the cache refused it
            raise MachineFault(target / remote.name, e.errno, "nothing of the download was kept") from None
        raise UserError(
            f"could not download {remote.name} from {url}: {_one_line(e)} (offline? put the file in "
            f"--data-dir or ${ENV_DATA} as {remote.folder}/{remote.name})"
        ) from None
    return Path(path)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]

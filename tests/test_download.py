"""Downloads against a local server: verified, cached, and never counted as present when damaged."""

import shutil

import numpy as np
import pytest

from langgan_bench.core.errors import UserError
from langgan_bench.datasets.files import RemoteFile, git_blob_of, locate
from langgan_bench.datasets.oracle import SEQGAN_FILES, seqgan_params

from .http_server import serve


@pytest.fixture()
def mirror(tmp_path, data_dir, monkeypatch):
    """A server holding copies of the SeqGAN oracle files, an empty cache, and no local data folder."""
    root = tmp_path / "server"
    shutil.copytree(data_dir / "seqgan_oracle", root / "seqgan_oracle")
    monkeypatch.setenv("LANGGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LANGGAN_DATA", raising=False)
    return root


def cached_files(tmp_path):
    folder = tmp_path / "cache" / "seqgan_oracle"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_caches(mirror, tmp_path, data_dir, monkeypatch):
    with serve(mirror) as url:
        monkeypatch.setenv("LANGGAN_MIRROR", url)
        params = seqgan_params(None)
    assert cached_files(tmp_path) == sorted(f.name for f in SEQGAN_FILES)
    local = seqgan_params(data_dir)
    assert all(np.array_equal(params[k], local[k]) for k in local)
    # second use: served from the cache, no server needed
    monkeypatch.setenv("LANGGAN_MIRROR", "http://127.0.0.1:9")
    assert np.array_equal(seqgan_params(None)["wo"], local["wo"])


def test_checksum_mismatch_leaves_nothing(mirror, tmp_path, monkeypatch):
    bad = mirror / "seqgan_oracle" / "wo.npz"
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    with serve(mirror) as url:
        monkeypatch.setenv("LANGGAN_MIRROR", url)
        with pytest.raises(UserError, match=r"wo\.npz .*failed verification"):
            seqgan_params(None)
    assert "wo.npz" not in cached_files(tmp_path)
    assert not [p for p in cached_files(tmp_path) if "tmp" in p]


def test_unreachable_server_is_one_clear_error(mirror, monkeypatch):
    monkeypatch.setenv("LANGGAN_MIRROR", "http://127.0.0.1:9")
    with pytest.raises(UserError, match="could not download") as e:
        seqgan_params(None)
    assert "put the file in --data-dir or $LANGGAN_DATA as seqgan_oracle/" in str(e.value)
    assert len(str(e.value).splitlines()) == 1


def test_corrupt_file_in_data_folder_is_reported(tmp_path, data_dir):
    folder = tmp_path / "data" / "seqgan_oracle"
    shutil.copytree(data_dir / "seqgan_oracle", folder)
    (folder / "bo.npz").write_bytes(b"not the oracle")
    with pytest.raises(UserError, match=r"corrupt data file: .*bo\.npz has sha256"):
        seqgan_params(tmp_path / "data")


def test_git_blob_checked_download_rejects_a_truncated_transfer(tmp_path, monkeypatch):
    """A file known only by its git blob id: a connection that closes early must not land in the cache."""
    root = tmp_path / "server" / "demo"
    root.mkdir(parents=True)
    content = b"line one\nline two\n" * 5000
    (root / "text.txt").write_bytes(content)
    blob = git_blob_of(root / "text.txt")
    remote = RemoteFile(folder="demo", name="text.txt", url="http://unused.invalid/text.txt", git_blob=blob)
    monkeypatch.setenv("LANGGAN_CACHE", str(tmp_path / "cache"))
    with serve(tmp_path / "server", truncate={"/demo/text.txt": 1000}) as url:
        monkeypatch.setenv("LANGGAN_MIRROR", url)
        with pytest.raises(UserError):
            locate(remote, None)
    assert not (tmp_path / "cache" / "demo" / "text.txt").exists()
    with serve(tmp_path / "server") as url:
        monkeypatch.setenv("LANGGAN_MIRROR", url)
        path = locate(remote, None)
    assert path.read_bytes() == content
    # a damaged cached copy is dropped and fetched again, never used
    path.write_bytes(content[:10])
    with serve(tmp_path / "server") as url:
        monkeypatch.setenv("LANGGAN_MIRROR", url)
        assert locate(remote, None).read_bytes() == content

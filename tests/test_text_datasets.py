"""COCO and EMNLP2017: tokenization, vocabulary, splits, the download path and bad input."""

import shutil

import pytest
import torch

from langgan_bench.core.errors import UserError
from langgan_bench.datasets import load_dataset, sources
from langgan_bench.datasets import text as text_mod
from langgan_bench.datasets.files import RemoteFile, git_blob_of
from langgan_bench.datasets.text import EOS, PAD, UNK, build_vocab, read_lines

from .http_server import serve


@pytest.fixture(scope="module")
def coco(data_dir):
    return load_dataset("coco", data_dir)


def test_coco_splits_vocab_and_tokenization(coco, data_dir):
    assert (len(coco.train), len(coco.valid), len(coco.test)) == (9000, 1000, 10000)
    assert coco.tokenizer == "13a" and coco.vocab.tokens[:3] == ("<pad>", "<eos>", "<unk>")
    assert (coco.vocab.pad_id, coco.vocab.eos_id, coco.vocab.unk_id) == (PAD, EOS, UNK)
    # 13a splits the period glued to the last word; case is kept
    raw = read_lines(data_dir / "image_coco" / "test_coco.txt")
    glued = next(i for i, line in enumerate(raw) if line.endswith("."))
    assert coco.reference_tokens()[glued][-1] == "." and raw[glued].split()[-1] != "."
    # every sentence fits with its <eos>: nothing is truncated
    for split in (coco.train, coco.valid, coco.test):
        assert ((split == EOS).sum(dim=1) == 1).all()
    # test words outside the train vocabulary become <unk> in ids, but stay words for BLEU / FED
    assert (coco.test == UNK).any() and not (coco.train == UNK).any()
    words = coco.reference_tokens()
    for row in range(50):
        ids = [i for i in coco.test[row].tolist() if i not in (PAD, EOS)]
        assert [coco.vocab.tokens[i] if i != UNK else "<unk>" for i in ids] == [
            w if w in coco.vocab.tokens else "<unk>" for w in words[row]
        ]
    assert len(coco.vocab) == pytest.approx(4500, abs=300)


def test_vocab_order_is_frequency_then_alphabetical():
    vocab = build_vocab([["b", "a", "c"], ["c", "b"], ["c"]])
    assert vocab.tokens == ("<pad>", "<eos>", "<unk>", "c", "b", "a")


def test_coco_is_deterministic(coco, data_dir):
    again = load_dataset("coco", data_dir)
    assert again.content_hash == coco.content_hash and torch.equal(again.valid, coco.valid)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a cat\n\xff\xfe bad bytes\n", "line 2 is not valid UTF-8"),
        (b"a cat\n   \na dog\n", "line 2 is empty"),
        (b"", "is empty"),
    ],
)
def test_bad_text_files(tmp_path, content, message):
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_lines(path)


def test_emnlp_without_its_training_file_says_what_to_do(tmp_path, data_dir, monkeypatch):
    folder = tmp_path / "data" / "emnlp_news"
    folder.mkdir(parents=True)
    shutil.copy(data_dir / "emnlp_news" / "test_emnlp.txt", folder)
    monkeypatch.setenv("LANGGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LANGGAN_MIRROR", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(UserError, match=r"emnlp2017 needs its training file emnlp_news\.txt .*data fetch emnlp2017"):
        load_dataset("emnlp2017", tmp_path / "data")


def test_emnlp_download_is_checked_by_git_blob(tmp_path, data_dir, monkeypatch):
    """The train file comes from a server (here a local one) and is verified by its git blob id."""
    served = tmp_path / "server" / "emnlp_news"
    served.mkdir(parents=True)
    lines = (data_dir / "emnlp_news" / "test_emnlp.txt").read_text().splitlines()
    (served / "emnlp_news.txt").write_text("\n".join(lines[:3000]) + "\n")
    monkeypatch.setenv("LANGGAN_CACHE", str(tmp_path / "cache"))
    local = tmp_path / "data"
    shutil.copytree(data_dir / "emnlp_news", local / "emnlp_news")
    with serve(tmp_path / "server") as url:
        monkeypatch.setenv("LANGGAN_MIRROR", url)
        # the real blob id: this stand-in file does not match it, so nothing is accepted or cached
        with pytest.raises(UserError, match="failed verification"):
            load_dataset("emnlp2017", local)
        assert not (tmp_path / "cache" / "emnlp_news" / "emnlp_news.txt").exists()
        # with the stand-in's own blob id the same path builds the dataset
        fake = RemoteFile(
            "emnlp_news", "emnlp_news.txt", "http://unused.invalid", git_blob=git_blob_of(served / "emnlp_news.txt")
        )
        monkeypatch.setattr(
            sources,
            "EMNLP2017",
            sources.EMNLP2017.__class__(**{**sources.EMNLP2017.__dict__, "train": fake, "valid_size": 500}),
        )
        ds = text_mod.build_text(sources.EMNLP2017, local)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (2500, 500, 10000)
    assert ds.tokenizer == "whitespace" and ds.max_len >= 49
    assert (tmp_path / "cache" / "emnlp_news" / "emnlp_news.txt").is_file()

"""Where every benchmark's data comes from, and the constants that define it: plain values, no torch (the
dataset registry and ``langgan-bench list datasets`` read them without building anything)."""

from __future__ import annotations

from dataclasses import dataclass

from langgan_bench.datasets.files import RemoteFile

#: The seed of the synthetic data (and of the seeded oracle's parameters). Fixed: it defines the benchmark.
DATA_SEED = 2017
#: Bump when the synthetic data's generation changes (it is part of the cache key and the content hash).
GENERATION_VERSION = "oracle-data-v1"
#: A text benchmark's valid split is a seeded random subset of its training file.
VALID_SEED = 2017

_GFS_COMMIT = "e6be915b1aed7843d83f7d543bfb8de9f3d3461f"
_GFS_URL = (
    f"https://raw.githubusercontent.com/pclucas14/GansFallingShort/{_GFS_COMMIT}"
    "/synthetic_data_experiments/oracle_params/{name}.npz"
)
#: sha256 of each canonical SeqGAN oracle file, from ../shared/data/seqgan_oracle/SOURCE.md.
SEQGAN_SHA256 = {
    "bc": "71102ad0da50dd36eeabb2afa5949138d35ce6d3ab31092dbe5876cc658f5381",
    "bf": "9b8af49056f2271303c8d6e86fc838ce58535c44e2f58cf093e55564afc83be4",
    "bi": "771dc14a87413f142304a44ba32584aac36c31b6ea77d83f0ad4b824895ec4ba",
    "bo": "dd4e5cfa70a4199fe4ba7afdf0de665837f4cfcb912c616f820debd2fbbab790",
    "bog": "59e8bfbe03fc47722c92d17725738b1cf31796f400550031985d2cfc406f38db",
    "embedding": "e41f8af7c573f8a1879b18396425d2d19efac559234a9c1109083d921edb3925",
    "uc": "77abdbce8bb1f17fb4907e59e8a17b360562885e5bc017bd6e78b6744f42b012",
    "uf": "22bc3d7157ee813da900ba40badd112063aaf48f55789f2f8cb972651dbc00df",
    "ui": "0557754cb2d0402fd755cea8933e83707edb30092f0a38ebc5544d9e7e3caca8",
    "uog": "0accb868a6367a2b78bcc72963a68e38b898beec77fcb5db2e4f9c95ac53539d",
    "wc": "779e970a494c4f8a8f1e0c6b39d6d5319dbc274c0806852a03b69c0ab544752e",
    "wf": "07a55ac9d573b5810724bc8e6e07446f1296245d5ff98702c144e2178beeda4f",
    "wi": "ac4b27367b0b807af02bff5ca773d88aff8e62e4aa21e02b1a7f1febf0d69a2b",
    "wo": "a5f8fae3250fcd9cc7cd688c5605af56eb2c5d9efe745ccff7ce56f6d9a974bd",
    "wog": "7abf4a8b206e35b6e712706db110b5d7a04ee144f8d3ba64ad8c09549d2d94e2",
}
SEQGAN_FILES = tuple(
    RemoteFile(folder="seqgan_oracle", name=f"{k}.npz", url=_GFS_URL.format(name=k), sha256=v)
    for k, v in sorted(SEQGAN_SHA256.items())
)


_TEXYGEN = "https://raw.githubusercontent.com/geek-ai/Texygen/3104e22ac75f3cc2070da2bf5e2da6d2bef149ad/data"


@dataclass(frozen=True)
class TextSource:
    """Where a text benchmark's files come from and how they are read."""

    name: str
    description: str
    train: RemoteFile
    test: RemoteFile
    tokenizer: str
    valid_size: int
    hint: str  # what to tell a user whose data is missing


COCO = TextSource(
    name="coco",
    description="Image COCO captions (Texygen preprocessing), 13a-tokenized, case kept",
    train=RemoteFile(
        "image_coco",
        "image_coco.txt",
        f"{_TEXYGEN}/image_coco.txt",
        sha256="2c0fd1f0f43aac6a9dc3926a535516ccf395de535e15ac1fd17cd569420736f5",
    ),
    test=RemoteFile(
        "image_coco",
        "test_coco.txt",
        f"{_TEXYGEN}/testdata/test_coco.txt",
        sha256="72e25c9fb4d2cd43182ac602c92f6ffc377762147f9709572943b0b09174bcae",
    ),
    tokenizer="13a",
    valid_size=1_000,
    hint="",
)

EMNLP2017 = TextSource(
    name="emnlp2017",
    description="EMNLP2017 WMT News (Texygen preprocessing), already tokenized: whitespace split, case kept",
    train=RemoteFile(
        "emnlp_news",
        "emnlp_news.txt",
        f"{_TEXYGEN}/emnlp_news.txt",
        git_blob="538653e5f946b6f76e2b729c5aaa7507152354a3",
    ),
    test=RemoteFile(
        "emnlp_news",
        "test_emnlp.txt",
        f"{_TEXYGEN}/testdata/test_emnlp.txt",
        sha256="03c646d08f766f4140443db4419b1f0ee292bc0db514208873e9f2e166b95bd2",
    ),
    tokenizer="whitespace",
    valid_size=10_000,
    hint=(
        "emnlp2017 needs its training file emnlp_news.txt (~270k sentences, git blob 538653e5f946b6f7), "
        "which is not shipped with the shared data: run `langgan-bench data fetch emnlp2017` on a machine "
        "with network access, or put the file at $LANGGAN_DATA/emnlp_news/emnlp_news.txt"
    ),
)

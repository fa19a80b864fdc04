"""Benchmark datasets, registered by name. ``load_dataset(name)`` builds (or downloads) one.

The registry holds each dataset's description, builder and defining files; a builder imports the code it
needs (torch, the oracle, the tokenizers) when it runs, so ``langgan-bench list datasets`` imports none of it.
``dataset_info(name)`` is what ``langgan-bench data info`` prints, cached by what defines the data (its files'
checksums, its constants, the package and tokenizer versions): after the first time it builds nothing.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgan_bench.core.cache import cache_dir, load_or_build
from langgan_bench.core.config import config_hash
from langgan_bench.core.errors import Damaged, UserError
from langgan_bench.core.files import atomic_write_json
from langgan_bench.core.registry import Registry
from langgan_bench.core.version import __version__
from langgan_bench.datasets.files import RemoteFile, data_dir, locate
from langgan_bench.datasets.sources import (
    COCO,
    DATA_SEED,
    EMNLP2017,
    GENERATION_VERSION,
    SEQGAN_FILES,
    VALID_SEED,
    TextSource,
)

if TYPE_CHECKING:
    from langgan_bench.datasets.base import Dataset

__all__ = ["DATASETS", "DatasetSpec", "dataset_info", "load_dataset"]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: how to build it from a data folder (None: download or generate)."""

    name: str
    description: str
    build: Callable[[Path | None], Dataset]
    files: tuple[RemoteFile, ...] = ()  # the files the data is made from (each with its checksum)
    defines: tuple[object, ...] = ()  # and the constants it is made with


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _register(
    name: str, description: str, files: tuple[RemoteFile, ...] = (), defines: tuple[object, ...] = ()
) -> Callable[[Callable[[Path | None], Dataset]], DatasetSpec]:
    def wrap(fn: Callable[[Path | None], Dataset]) -> DatasetSpec:
        spec = DatasetSpec(name, description, fn, files, defines)
        DATASETS.add(name, spec)
        return spec

    return wrap


def _text(source: TextSource) -> tuple[object, ...]:
    return (source.tokenizer, source.valid_size, VALID_SEED, f"sacrebleu {importlib.metadata.version('sacrebleu')}")


@_register(
    "oracle",
    f"synthetic: seeded N(0,1) LSTM oracle (seed {DATA_SEED}), vocab 5000, length 20",
    defines=("seeded", DATA_SEED, GENERATION_VERSION),
)
def _oracle(data_folder: Path | None) -> Dataset:
    from langgan_bench.datasets.oracle import build_synthetic, seeded_params

    return build_synthetic("oracle", DATASETS.get("oracle").description, seeded_params(DATA_SEED))


@_register(
    "oracle-seqgan",
    "synthetic: SeqGAN's canonical oracle parameters, vocab 5000, length 20",
    SEQGAN_FILES,
    (DATA_SEED, GENERATION_VERSION),
)
def _oracle_seqgan(data_folder: Path | None) -> Dataset:
    from langgan_bench.datasets.oracle import build_synthetic, seqgan_params

    return build_synthetic("oracle-seqgan", DATASETS.get("oracle-seqgan").description, seqgan_params(data_folder))


@_register("coco", COCO.description + "; 9,000 train / 1,000 valid / 10,000 test", (COCO.train, COCO.test), _text(COCO))
def _coco(data_folder: Path | None) -> Dataset:
    from langgan_bench.datasets.text import build_text

    return build_text(COCO, data_folder)


@_register(
    "emnlp2017",
    EMNLP2017.description + "; ~268k train / 10,000 valid / 10,000 test (train downloaded)",
    (EMNLP2017.train, EMNLP2017.test),
    _text(EMNLP2017),
)
def _emnlp(data_folder: Path | None) -> Dataset:
    from langgan_bench.datasets.text import build_text

    return build_text(EMNLP2017, data_folder)


def load_dataset(name: str, data_folder: str | Path | None = None) -> Dataset:
    """Build dataset ``name``; ``data_folder`` (or ``LANGGAN_DATA``) is a local folder like ../shared/data."""
    spec = DATASETS.get(name)
    return spec.build(data_dir(data_folder))


def dataset_info(name: str, data_folder: str | Path | None = None) -> dict[str, Any]:
    """``Dataset.info()`` of dataset ``name``, and for a synthetic one the oracle's NLL of its test and train
    splits (``oracle_nll``): read from the cache when these very files (present and verified) and constants
    made it before, else built (downloading what is missing, as ``load_dataset``) and cached."""
    spec, folder = DATASETS.get(name), data_dir(data_folder)
    try:  # verified, not downloaded: a missing file is for the build to fetch or explain
        for remote in spec.files:
            locate(remote, folder, download=False)
    except UserError:
        return _info(spec.build(folder))
    files = [[f.folder, f.name, f.sha256, f.git_blob] for f in spec.files]
    key = {"name": name, "files": files, "defines": [str(d) for d in spec.defines], "version": __version__}
    path = cache_dir() / "info" / f"{name}-{config_hash(key)}.json"
    return load_or_build(path, _load_info, lambda: _info(spec.build(folder)), lambda v, p: atomic_write_json(p, v))


def _info(ds: Dataset) -> dict[str, Any]:
    info: dict[str, Any] = ds.info()
    if ds.oracle is not None:
        info["oracle_nll"] = {"test": ds.oracle.nll(ds.test), "train": ds.oracle.nll(ds.train)}
    return info


def _load_info(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if not (isinstance(info, dict) and "content_hash" in info):
            raise ValueError("not a dataset's information")
        return info
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise Damaged(path, str(e).splitlines()[0][:120]) from None

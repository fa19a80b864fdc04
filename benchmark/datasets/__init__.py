"""Benchmark datasets, registered by name. ``load_dataset(name)`` builds (or downloads) one.

The registry holds each dataset's description and builder; a builder imports the code it needs (torch,
the oracle, the tokenizers) when it runs, so ``langgan-bench list datasets`` imports none of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from langgan_bench.core.registry import Registry
from langgan_bench.datasets.files import data_dir
from langgan_bench.datasets.sources import COCO, DATA_SEED, EMNLP2017

if TYPE_CHECKING:
    from langgan_bench.datasets.base import Dataset

__all__ = ["DATASETS", "DatasetSpec", "load_dataset"]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: how to build it from a data folder (None: download or generate)."""

    name: str
    description: str
    build: Callable[[Path | None], Dataset]


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _register(name: str, description: str) -> Callable[[Callable[[Path | None], Dataset]], DatasetSpec]:
    def wrap(fn: Callable[[Path | None], Dataset]) -> DatasetSpec:
        spec = DatasetSpec(name, description, fn)
        DATASETS.add(name, spec)
        return spec

    return wrap


@_register("oracle", f"synthetic: seeded N(0,1) LSTM oracle (seed {DATA_SEED}), vocab 5000, length 20")
def _oracle(data_folder: Path | None) -> Dataset:
    from langgan_bench.datasets.oracle import build_synthetic, seeded_params

    return build_synthetic("oracle", DATASETS.get("oracle").description, seeded_params(DATA_SEED))


@_register("oracle-seqgan", "synthetic: SeqGAN's canonical oracle parameters, vocab 5000, length 20")
def _oracle_seqgan(data_folder: Path | None) -> Dataset:
    from langgan_bench.datasets.oracle import build_synthetic, seqgan_params

    return build_synthetic("oracle-seqgan", DATASETS.get("oracle-seqgan").description, seqgan_params(data_folder))


@_register("coco", COCO.description + "; 9,000 train / 1,000 valid / 10,000 test")
def _coco(data_folder: Path | None) -> Dataset:
    from langgan_bench.datasets.text import build_text

    return build_text(COCO, data_folder)


@_register("emnlp2017", EMNLP2017.description + "; ~268k train / 10,000 valid / 10,000 test (train downloaded)")
def _emnlp(data_folder: Path | None) -> Dataset:
    from langgan_bench.datasets.text import build_text

    return build_text(EMNLP2017, data_folder)


def load_dataset(name: str, data_folder: str | Path | None = None) -> Dataset:
    """Build dataset ``name``; ``data_folder`` (or ``LANGGAN_DATA``) is a local folder like ../shared/data."""
    spec = DATASETS.get(name)
    return spec.build(data_dir(data_folder))

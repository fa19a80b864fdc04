"""The Dataset contract: a vocabulary, integer splits, a max length, a content hash, and decode()."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from langgan_bench.datasets.oracle import Oracle


@dataclass(frozen=True)
class Vocab:
    """Token strings by id, plus the ids of the special tokens this dataset uses (None: not used).

    The synthetic oracle has no special tokens at all: every sequence has exactly ``max_len`` words.
    """

    tokens: tuple[str, ...]
    pad_id: int | None = None
    eos_id: int | None = None
    unk_id: int | None = None

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A benchmark dataset. Splits are LongTensors of shape (n, max_len), right-padded with ``pad_id``.

    ``content_hash`` identifies the full data (vocabulary, every split and, for a synthetic dataset, the
    oracle's parameters); it appears in every signature that depends on the data.
    """

    name: str
    description: str
    vocab: Vocab
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    max_len: int
    content_hash: str
    tokenizer: str  # how raw text becomes tokens; "none" for synthetic ids
    oracle: Oracle | None = field(default=None)
    # the test sentences as tokens *before* the vocabulary (no <unk>): what BLEU and FED compare against
    test_tokens: tuple[tuple[str, ...], ...] | None = field(default=None)

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]

    @property
    def ident(self) -> str:
        """``name@hash`` as it appears in signatures."""
        return f"{self.name}@{self.short_hash}"

    @property
    def is_synthetic(self) -> bool:
        return self.oracle is not None

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        """One sequence of ids -> text, stopping at the end-of-sentence token, dropping padding."""
        out = []
        for i in ids.tolist() if isinstance(ids, torch.Tensor) else ids:
            if i == self.vocab.eos_id:
                break
            if i == self.vocab.pad_id:
                continue
            out.append(self.vocab.tokens[i])
        return " ".join(out)

    def limited(self, train: int | None, valid: int | None, test: int | None) -> Dataset:
        """The first N sequences of each split (a profile's slice); None keeps a split whole."""
        return replace(
            self,
            train=self.train[:train] if train else self.train,
            valid=self.valid[:valid] if valid else self.valid,
            test=self.test[:test] if test else self.test,
            test_tokens=self.test_tokens[:test] if test and self.test_tokens else self.test_tokens,
        )

    def reference_tokens(self) -> list[list[str]]:
        """The test split as token lists (real words, never <unk>), for BLEU and FED."""
        if self.test_tokens is not None:
            return [list(t) for t in self.test_tokens]
        return [self.decode(x).split() for x in self.test]

    def info(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
            "vocab_size": len(self.vocab),
            "max_len": self.max_len,
            "tokenizer": self.tokenizer,
            "content_hash": self.content_hash,
        }


def sequence_mask(tokens: torch.Tensor, eos_id: int | None) -> torch.Tensor:
    """Bool mask of the positions that count as tokens: everything up to and including the first EOS.

    Without an EOS token (the synthetic oracle) every position counts.
    """
    if eos_id is None:
        return torch.ones_like(tokens, dtype=torch.bool)
    is_eos = (tokens == eos_id).long()
    # positions strictly after the first EOS have a cumulative EOS count >= 1 before them
    before = torch.cumsum(is_eos, dim=1) - is_eos
    return before == 0


def trim_padding(tokens: torch.Tensor, pad_id: int | None) -> torch.Tensor:
    """Drop trailing columns that are padding in every row (same numbers, less work on short sentences)."""
    if pad_id is None or tokens.shape[1] == 0:
        return tokens
    used = (tokens != pad_id).any(dim=0).nonzero()
    return tokens[:, : int(used[-1]) + 1] if len(used) else tokens[:, :1]


def hash_arrays(*parts: np.ndarray | bytes | str) -> str:
    """sha256 over arrays (dtype, shape and bytes) and strings, in order."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        elif isinstance(p, str):
            h.update(p.encode())
        else:
            h.update(p)
        h.update(b"\x00")
    return h.hexdigest()

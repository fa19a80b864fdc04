"""Real-text benchmarks: Image COCO captions and EMNLP2017 WMT News, as preprocessed by Texygen.

Tokenization belongs to the dataset and is recorded in every signature. COCO is raw text with the final
period glued to the last word, so it is split with sacrebleu's ``13a`` tokenizer (4,686 word types in the
training file; plain whitespace would give 6,094). EMNLP2017 News is already tokenized: whitespace only.
Case is kept in both. (Texygen lowercases and uses NLTK's word_tokenize for COCO; numbers from the two
preprocessings are close but not identical, and the signature says which one produced a number.)

The vocabulary is built from the train split only (after carving out the valid split): ``<pad>`` = 0,
``<eos>`` = 1, ``<unk>`` = 2, then words by decreasing frequency, ties alphabetical. Test words outside it
become ``<unk>`` for likelihoods; BLEU and FED use the test sentences' real words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from langgan_bench.core.errors import UserError
from langgan_bench.datasets.base import Dataset, Vocab, hash_arrays
from langgan_bench.datasets.files import locate
from langgan_bench.datasets.sources import VALID_SEED, TextSource

SPECIALS = ("<pad>", "<eos>", "<unk>")
PAD, EOS, UNK = 0, 1, 2


def _tok_13a() -> Callable[[str], list[str]]:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tok = Tokenizer13a()
    return lambda line: tok(line).split()


def _tok_whitespace() -> Callable[[str], list[str]]:
    return str.split


#: name -> factory of a function str -> tokens; the name appears in signatures as ``tok:<name>``.
TOKENIZERS: dict[str, Callable[[], Callable[[str], list[str]]]] = {"13a": _tok_13a, "whitespace": _tok_whitespace}


def read_lines(path: Path, what: str | None = None) -> list[str]:
    """The lines of a UTF-8 text file, stripped; a non-UTF-8 or empty line is a one-line UserError."""
    what = what or str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {what}: {e.strerror or e}") from None
    lines = data.split(b"\n")
    if lines and lines[-1].strip() == b"":
        lines.pop()  # a final newline ends the last line
    if not lines:
        raise UserError(f"{what} is empty")
    out = []
    for i, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise UserError(f"{what}: line {i} is not valid UTF-8") from None
        if not line:
            raise UserError(f"{what}: line {i} is empty")
        out.append(line)
    return out


def tokenize(lines: list[str], tokenizer: str) -> list[list[str]]:
    fn = TOKENIZERS[tokenizer]()
    return [fn(line) for line in lines]


def build_vocab(sentences: list[list[str]]) -> Vocab:
    counts = Counter(tok for s in sentences for tok in s)
    words = sorted((w for w in counts if w not in SPECIALS), key=lambda w: (-counts[w], w))
    return Vocab(tokens=SPECIALS + tuple(words), pad_id=PAD, eos_id=EOS, unk_id=UNK)


def encode(sentences: list[list[str]], vocab: Vocab, max_len: int) -> torch.Tensor:
    """Token lists -> (n, max_len) ids: words, then <eos>, then <pad>. Never truncates: a sentence that does
    not fit is an error (callers size ``max_len`` from the data)."""
    index = {tok: i for i, tok in enumerate(vocab.tokens)}
    out = np.full((len(sentences), max_len), PAD, dtype=np.int64)
    for row, sent in enumerate(sentences):
        if len(sent) + 1 > max_len:
            raise ValueError(f"sentence {row} has {len(sent)} tokens; max_len {max_len} leaves no room for <eos>")
        out[row, : len(sent)] = [index.get(tok, UNK) for tok in sent]
        out[row, len(sent)] = EOS
    return torch.from_numpy(out)


def build_text(source: TextSource, data_folder: Path | None) -> Dataset:
    """Read, verify, tokenize and encode a text benchmark."""
    try:
        train_path = locate(source.train, data_folder)
    except UserError as e:
        raise UserError(f"{source.hint} ({e})" if source.hint else str(e)) from None
    train_lines = read_lines(train_path, source.train.name)
    test_lines = read_lines(locate(source.test, data_folder), source.test.name)
    train_all, test = tokenize(train_lines, source.tokenizer), tokenize(test_lines, source.tokenizer)
    rng = np.random.default_rng(np.random.SeedSequence(VALID_SEED))
    is_valid = np.zeros(len(train_all), dtype=bool)
    is_valid[rng.choice(len(train_all), size=source.valid_size, replace=False)] = True
    train = [s for s, v in zip(train_all, is_valid, strict=True) if not v]
    valid = [s for s, v in zip(train_all, is_valid, strict=True) if v]
    vocab = build_vocab(train)
    max_len = max(len(s) for s in train_all + test) + 1  # room for <eos>; nothing is ever truncated
    splits = {
        name: encode(sents, vocab, max_len) for name, sents in (("train", train), ("valid", valid), ("test", test))
    }
    content_hash = hash_arrays(
        source.tokenizer,
        "\n".join(vocab.tokens),
        *(splits[k].numpy() for k in ("train", "valid", "test")),
        "\n".join(" ".join(s) for s in test),
    )
    return Dataset(
        name=source.name,
        description=source.description,
        vocab=vocab,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        max_len=max_len,
        content_hash=content_hash,
        tokenizer=source.tokenizer,
        test_tokens=tuple(tuple(s) for s in test),
    )

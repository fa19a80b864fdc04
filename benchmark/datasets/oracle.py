"""The synthetic benchmark: an LSTM oracle that defines the true distribution and can score any sequence.

The oracle follows SeqGAN's TensorFlow equations (../shared/data/seqgan_oracle/SOURCE.md), written out
here instead of squeezed into ``torch.nn.LSTM`` so that the gate order and the transposes cannot go wrong:

    i = σ(x Wi + h Ui + bi)   f = σ(x Wf + h Uf + bf)   o = σ(x Wog + h Uog + bog)
    c̃ = tanh(x Wc + h Uc + bc)   c = f c + i c̃   h = o tanh(c)   p(next) = softmax(h Wo + bo)

h and c start at zero, the first input is the embedding of token 0 (also an ordinary word), and every
sequence has exactly 20 tokens (no end-of-sentence token).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from langgan_bench.core.cache import cache_dir, load_or_build
from langgan_bench.core.errors import Damaged
from langgan_bench.core.files import atomic_write_bytes
from langgan_bench.core.storage import load_npz
from langgan_bench.datasets.base import Dataset, Vocab, hash_arrays
from langgan_bench.datasets.files import locate
from langgan_bench.datasets.sources import DATA_SEED, GENERATION_VERSION, SEQGAN_FILES
from langgan_bench.kernels.sampling import pick, scoring_temperature
from langgan_bench.kernels.softmax_nll import target_log_probs

VOCAB_SIZE = 5000
EMB_DIM = 32
HIDDEN_DIM = 32
SEQ_LEN = 20
START_TOKEN = 0
#: Split sizes of both synthetic datasets.
SPLIT_SIZES = {"train": 10_000, "valid": 5_000, "test": 10_000}

PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    "embedding": (VOCAB_SIZE, EMB_DIM),
    **{w: (EMB_DIM, HIDDEN_DIM) for w in ("wi", "wf", "wog", "wc")},
    **{u: (HIDDEN_DIM, HIDDEN_DIM) for u in ("ui", "uf", "uog", "uc")},
    **{b: (HIDDEN_DIM,) for b in ("bi", "bf", "bog", "bc")},
    "wo": (HIDDEN_DIM, VOCAB_SIZE),
    "bo": (VOCAB_SIZE,),
}


def _cell(z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM cell given the gate pre-activations z = x W + h U + b in the order i, f, o, c̃."""
    i, f, o, g = z.split(HIDDEN_DIM, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class Oracle(nn.Module):
    """The oracle LSTM. ``log_prob`` scores any batch of token ids exactly (always at temperature 1)."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        super().__init__()
        for name, shape in PARAM_SHAPES.items():
            arr = np.asarray(params[name], dtype=np.float32)
            if arr.shape != shape:
                raise ValueError(f"oracle parameter {name} has shape {arr.shape}, expected {shape}")
            self.register_buffer(name, torch.from_numpy(arr.copy()))
        # x W for the four gates at once: (emb, 4*hidden) in the order i, f, o, c̃
        self.register_buffer("w_x", torch.cat([self.wi, self.wf, self.wog, self.wc], dim=1))
        self.register_buffer("w_h", torch.cat([self.ui, self.uf, self.uog, self.uc], dim=1))
        self.register_buffer("b", torch.cat([self.bi, self.bf, self.bog, self.bc]))

    def _steps(self, inputs: torch.Tensor) -> torch.Tensor:
        """Hidden states for a batch of input ids (B, L) -> (B, L, hidden), run step by step."""
        x = self.embedding[inputs]  # (B, L, emb)
        xw = x @ self.w_x + self.b  # input contribution for all steps at once
        h = torch.zeros(inputs.shape[0], HIDDEN_DIM, dtype=x.dtype, device=x.device)
        c = torch.zeros_like(h)
        hs = []
        for t in range(inputs.shape[1]):
            z = xw[:, t] + h @ self.w_h
            h, c = _cell(z, c)
            hs.append(h)
        return torch.stack(hs, dim=1)

    @torch.no_grad()
    def log_prob(self, tokens: torch.Tensor, temperature: float = 1.0, batch_size: int = 250) -> torch.Tensor:
        """Per-token log-probabilities (B, L) of ``tokens`` under the oracle, in nats.

        The oracle *is* the data distribution, so metrics score at T = 1; other temperatures exist so that
        the oracle can stand in for a generator (e.g. as a reference curve)."""
        out = []
        device = self.embedding.device
        t = [scoring_temperature(temperature)]
        for chunk in tokens.split(batch_size):
            chunk = chunk.to(device)
            start = torch.full((chunk.shape[0], 1), START_TOKEN, dtype=torch.long, device=device)
            h = self._steps(torch.cat([start, chunk[:, :-1]], dim=1))
            # the output layer in cache-sized blocks of rows (softmax_nll.py); wo is (hidden, V)
            logp = target_log_probs(h.flatten(0, 1), self.wo.t(), self.bo, chunk.flatten(), t)
            out.append(logp.view(chunk.shape).cpu())
        return torch.cat(out) if out else torch.zeros(0, tokens.shape[1])

    def nll(self, tokens: torch.Tensor, temperature: float = 1.0) -> float:
        """Mean per-token negative log-likelihood of ``tokens`` (every position counts)."""
        return float(-self.log_prob(tokens, temperature).double().mean())

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        """``n`` sequences (n, 20) drawn with torch's sampler (fast; for reference rows and tests)."""
        device = self.embedding.device
        gen = torch.Generator(device=device).manual_seed(seed)
        tok = torch.full((n,), START_TOKEN, dtype=torch.long, device=device)
        h = torch.zeros(n, HIDDEN_DIM, device=device)
        c = torch.zeros_like(h)
        out = []
        for _ in range(SEQ_LEN):
            z = self.embedding[tok] @ self.w_x + h @ self.w_h + self.b
            h, c = _cell(z, c)
            tok = pick(h @ self.wo + self.bo, temperature, gen)
            out.append(tok)
        return torch.stack(out, dim=1).cpu()

    @torch.no_grad()
    def sample_reproducible(self, n: int, rng: np.random.Generator, chunk: int = 500) -> np.ndarray:
        """Draw ``n`` sequences in float64 on the CPU by inverse-CDF with NumPy uniforms, so the same seed
        gives the same data on every machine (used to build the datasets, not in the hot path).

        Rows are drawn in chunks of ``chunk`` (part of the data's definition: it fixes the order in which
        uniforms are consumed)."""
        p = {k: getattr(self, k).double().cpu() for k in PARAM_SHAPES}
        w_x = torch.cat([p["wi"], p["wf"], p["wog"], p["wc"]], dim=1)
        w_h = torch.cat([p["ui"], p["uf"], p["uog"], p["uc"]], dim=1)
        b = torch.cat([p["bi"], p["bf"], p["bog"], p["bc"]])
        out = np.empty((n, SEQ_LEN), dtype=np.int64)
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            tok = torch.full((m,), START_TOKEN, dtype=torch.long)
            h = torch.zeros(m, HIDDEN_DIM, dtype=torch.float64)
            c = torch.zeros_like(h)
            for t in range(SEQ_LEN):
                z = p["embedding"][tok] @ w_x + h @ w_h + b
                h, c = _cell(z, c)
                cdf = torch.cumsum(torch.softmax(h @ p["wo"] + p["bo"], dim=1), dim=1)
                u = torch.from_numpy(rng.random(m)) * cdf[:, -1]
                tok = torch.searchsorted(cdf, u.unsqueeze(1), right=True).squeeze(1).clamp_(max=VOCAB_SIZE - 1)
                out[lo : lo + m, t] = tok.numpy()
        return out

    def params_numpy(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k).cpu().numpy() for k in PARAM_SHAPES}


def seeded_params(seed: int) -> dict[str, np.ndarray]:
    """Oracle parameters drawn from N(0, 1) with NumPy's PCG64 (identical on every machine)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    return {k: rng.standard_normal(shape).astype(np.float32) for k, shape in PARAM_SHAPES.items()}


def seqgan_params(data_folder: Path | None) -> dict[str, np.ndarray]:
    """The canonical SeqGAN oracle parameters, from the data folder or a verified download."""
    params = {}
    for remote in SEQGAN_FILES:
        # the files are plain .npy arrays despite their .npz suffix
        params[remote.name.removesuffix(".npz")] = np.load(locate(remote, data_folder), allow_pickle=False)
    return params


def _draw_disjoint(oracle: Oracle, seed: int) -> dict[str, np.ndarray]:
    """Train, valid and test drawn with separate seeds; a sequence already in an earlier split is redrawn,
    so the splits are disjoint (collisions are astronomically rare; this makes it a guarantee)."""
    seen: set[bytes] = set()
    splits = {}
    for index, (split, size) in enumerate(SPLIT_SIZES.items(), start=1):
        rng = np.random.default_rng(np.random.SeedSequence([DATA_SEED, index]))
        rows: list[np.ndarray] = []
        while len(rows) < size:
            for row in oracle.sample_reproducible(size - len(rows), rng):
                if row.tobytes() not in seen:
                    rows.append(row)
        splits[split] = np.stack(rows)
        seen.update(r.tobytes() for r in splits[split])
    return splits


def build_synthetic(name: str, description: str, params: dict[str, np.ndarray]) -> Dataset:
    """The synthetic dataset for an oracle: data generated once, cached by the parameters' hash."""
    oracle = Oracle(params)
    params_hash = hash_arrays(*(np.asarray(params[k], dtype=np.float32) for k in PARAM_SHAPES))
    cache = cache_dir() / "synthetic" / f"{name}-{params_hash[:16]}-{GENERATION_VERSION}-seed{DATA_SEED}.npz"

    # a damaged entry is regenerated, with a warning
    splits = load_or_build(cache, load_splits, lambda: _draw_disjoint(oracle, DATA_SEED), _savez)
    content_hash = hash_arrays(GENERATION_VERSION, params_hash, *(splits[k] for k in SPLIT_SIZES))
    return Dataset(
        name=name,
        description=description,
        vocab=Vocab(tokens=tuple(str(i) for i in range(VOCAB_SIZE))),
        train=torch.from_numpy(splits["train"]),
        valid=torch.from_numpy(splits["valid"]),
        test=torch.from_numpy(splits["test"]),
        max_len=SEQ_LEN,
        content_hash=content_hash,
        tokenizer="none",
        oracle=oracle,
    )


def load_splits(path: Path) -> dict[str, np.ndarray]:
    """The cached synthetic splits, checked (shapes, dtype, token range); ``Damaged`` otherwise."""
    splits = load_npz(path, SPLIT_SIZES)
    for name, size in SPLIT_SIZES.items():
        a = splits[name]
        if a.shape != (size, SEQ_LEN) or a.dtype != np.int64 or a.min() < 0 or a.max() >= VOCAB_SIZE:
            raise Damaged(path, f"split {name} is not {size} x {SEQ_LEN} token ids")
    return splits


def _savez(arrays: dict[str, np.ndarray], path: Path) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())

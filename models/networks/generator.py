"""The shared LSTM generator. Every model trains one of these; the GANs differ only in how.

Token ids 0..V-1 are the dataset's vocabulary; the generator has one extra input embedding (id V) used as
the beginning-of-sequence input, so no vocabulary word doubles as a start token. Dropout is "locked"
(variational, Gal & Ghahramani 2016): one mask per sequence, reused at every step, as in the
"Language GANs Falling Short" models.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from langgan_bench.datasets.base import sequence_mask, trim_padding
from langgan_bench.kernels.dense import Dense, dense
from langgan_bench.kernels.sampling import log_probs, pick, pick_blocks, scoring_temperature, uniforms
from langgan_bench.kernels.softmax_nll import logits_target_log_probs, softmax_nll, softmax_nll_many

State = list[tuple[torch.Tensor, torch.Tensor]]
SAMPLE_BATCH = 1000  # fixed, so the same seed gives the same samples whatever the device memory


class Generator(Protocol):
    """The contract every trained model (and the synthetic oracle) satisfies."""

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        """``n`` token-id sequences (n, max_len) drawn at ``temperature`` (0: greedy)."""
        ...

    def log_prob(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Per-token log-probabilities (B, L) at ``temperature`` > 0."""
        ...

    def nll(self, tokens: torch.Tensor, temperature: float = 1.0) -> float:
        """Mean per-token NLL in nats, padding excluded; never updates a weight."""
        ...


@dataclass(frozen=True)
class GeneratorConfig:
    emb_dim: int = 32
    hidden_dim: int = 32
    num_layers: int = 1
    dropout: float = 0.0  # locked dropout on the embeddings, between layers and before the softmax


class LSTMGenerator(nn.Module):
    """An LSTM language model implementing the Generator contract: ``sample`` and ``log_prob``."""

    def __init__(
        self, vocab_size: int, max_len: int, cfg: GeneratorConfig, eos_id: int | None = None, pad_id: int | None = None
    ) -> None:
        super().__init__()
        self.vocab_size, self.max_len, self.cfg = vocab_size, max_len, cfg
        self.eos_id, self.pad_id = eos_id, pad_id
        self.bos_id = vocab_size  # input-only id
        self.embed = nn.Embedding(vocab_size + 1, cfg.emb_dim)
        sizes = [cfg.emb_dim] + [cfg.hidden_dim] * cfg.num_layers
        self.layers = nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in itertools.pairwise(sizes))
        self.out = Dense(cfg.hidden_dim, vocab_size)
        self.register_buffer("logit_mask", pad_logit_mask(vocab_size, pad_id), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.out.weight.device

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        """Locked dropout: one mask per sequence (and feature), shared by every time step."""
        p = self.cfg.dropout
        if not self.training or p == 0.0:
            return x
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p) / (1 - p)
        return x * mask

    def inputs_for(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs: BOS followed by the tokens shifted right by one."""
        bos = torch.full_like(tokens[:, :1], self.bos_id)
        return torch.cat([bos, tokens[:, :-1]], dim=1)

    def embed_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Input embeddings (B, L, E) of token ids (B, L), or of soft one-hots (B, L, V) over the vocabulary
        (relaxed samples: their embedding is the probability-weighted mix of the words' embeddings)."""
        if inputs.is_floating_point():
            return inputs @ self.embed.weight[: self.vocab_size]
        return self.embed(inputs)

    def features(self, inputs: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Top-layer hidden states (B, L, H) for input ids (B, L) or soft one-hots (B, L, V), and the final
        state."""
        x = self._drop(self.embed_inputs(inputs))
        new_state = []
        for i, lstm in enumerate(self.layers):
            x, hc = lstm(x, None if state is None else state[i])
            x = self._drop(x)
            new_state.append(hc)
        return x, new_state

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token logits (B, L, V) for target tokens (B, L)."""
        h, _ = self.features(self.inputs_for(tokens))
        return dense(h, self.out.weight, self.out_bias())

    def out_bias(self) -> torch.Tensor:
        """The output layer's bias with the padding mask folded in (a (V,) vector, never a (B, L, V) tensor)."""
        return self.out.bias + self.logit_mask

    def step(self, prev: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One step: previous token ids (B,) -> next-token logits (B, V) and the new state."""
        h, state = self.features(prev.unsqueeze(1), state)
        return dense(h[:, 0], self.out.weight, self.out_bias()), state

    def sample_relaxed(
        self, n: int, beta: float, generator: torch.Generator | None = None, soft_inputs: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` sentences drawn by the Gumbel-max trick (an exact draw from softmax(logits), like ``sample``
        at T = 1) and their relaxed one-hots softmax(β·(logits + Gumbel noise)) (n, L, V), which carry
        gradients back to the generator (RelGAN). The next step reads the drawn token, or with
        ``soft_inputs`` its relaxed one-hot. Past a sentence's EOS: padding, and padding's one-hot."""
        inp = torch.full((n, 1), self.bos_id, dtype=torch.long, device=self.device)
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        pad = self.pad_id if self.pad_id is not None else 0
        pad_hot = nn.functional.one_hot(torch.tensor(pad, device=self.device), self.vocab_size).float()
        state, hard, soft = None, [], []
        for _ in range(self.max_len):
            h, state = self.features(inp, state)
            logits = dense(h[:, 0], self.out.weight, self.out_bias())
            u = torch.rand(logits.shape, generator=generator, device=self.device)
            y = logits - torch.log(-torch.log(u.clamp_(1e-20, 1.0 - 1e-7)))  # + Gumbel(0, 1) noise
            tok, relaxed = y.argmax(dim=-1), torch.softmax(beta * y, dim=-1)
            if self.eos_id is not None:
                tok = torch.where(done, torch.full_like(tok, pad), tok)
                relaxed = torch.where(done[:, None], pad_hot, relaxed)
                done = done | (tok == self.eos_id)
            hard.append(tok)
            soft.append(relaxed)
            inp = relaxed.unsqueeze(1) if soft_inputs else tok.unsqueeze(1)
        return torch.stack(hard, dim=1), torch.stack(soft, dim=1)

    def mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """Which positions of ``tokens`` count (up to and including the first EOS)."""
        return sequence_mask(tokens, self.eos_id)

    def log_prob(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Per-token log-probabilities (B, L) at temperature T, 0 at positions past the end of a sentence.

        Only the positions that count go through the output layer, fused with its cross-entropy
        (``softmax_nll``): no (B, L, V) tensor is materialised."""
        t = scoring_temperature(temperature)
        h, _ = self.features(self.inputs_for(tokens))
        if self.eos_id is None:  # every position counts (the synthetic oracle)
            rows = softmax_nll(h.reshape(-1, h.shape[-1]), self.out.weight, self.out_bias(), tokens.reshape(-1), t)
            return -rows.view(tokens.shape)
        mask = self.mask(tokens)
        rows = softmax_nll(h[mask], self.out.weight, self.out_bias(), tokens[mask], t)
        return torch.zeros(tokens.shape, dtype=rows.dtype, device=rows.device).masked_scatter(mask, -rows)

    def nll(self, tokens: torch.Tensor, temperature: float = 1.0, batch_size: int = 500) -> float:
        """Mean per-token NLL (nats) of ``tokens`` in evaluation mode; never updates a weight."""
        return self.nll_many(tokens, [temperature], batch_size)[0]

    def nll_many(self, tokens: torch.Tensor, temperatures: list[float], batch_size: int = 500) -> list[float]:
        """``nll`` at every temperature, the network run and the logits computed once per chunk of rows."""

        def summed(chunk: torch.Tensor, mask: torch.Tensor, temps: list[float]) -> torch.Tensor:
            h, _ = self.features(self.inputs_for(chunk))
            return softmax_nll_many(h[mask], self.out.weight, self.out_bias(), chunk[mask], temps)

        return chunked_nll(self, tokens, temperatures, batch_size, summed)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        """``n`` sequences (n, max_len) on the CPU; after an EOS every position is padding."""
        gen = torch.Generator(device=self.device).manual_seed(seed)
        with evaluating(self):
            out = [self._sample_batch(min(SAMPLE_BATCH, n - i), temperature, gen) for i in range(0, n, SAMPLE_BATCH)]
        return torch.cat(out).cpu() if out else torch.zeros(0, self.max_len, dtype=torch.long)

    def _sample_batch(self, n: int, temperature: float, gen: torch.Generator | None) -> torch.Tensor:
        """``n`` sentences at ``temperature``, step by step (``sample_loop``; T = 0: argmax, no draws)."""
        draw = lambda prev, state, u: self.draw(prev, state, temperature, u)  # noqa: E731
        return sample_loop(self, n, draw, gen if temperature != 0 else None)

    def draw(
        self, prev: torch.Tensor, state: State | None, temperature: float, u: torch.Tensor | None
    ) -> tuple[torch.Tensor, State]:
        """One sampling step: ``step`` and ``pick`` with the uniforms ``u``, the output layer and the draw a
        cache-sized block of rows at a time (``pick_blocks``)."""
        h, state = self.features(prev.unsqueeze(1), state)
        h, weight, bias = h[:, 0], self.out.weight, self.out_bias()
        logits = lambda a, b: dense(h[a:b], weight, bias)  # noqa: E731
        return pick_blocks(logits, len(h), self.vocab_size, temperature, u, h.device), state

    @staticmethod
    def keep_rows(state: State, keep: torch.Tensor) -> State:
        """The step state of the rows ``keep``: a boolean mask over the batch, or row indices (repeats allowed:
        a beam's parents)."""
        return [(h[:, keep], c[:, keep]) for h, c in state]


Draw = Callable[[torch.Tensor, object, "torch.Tensor | None"], tuple[torch.Tensor, object]]


def sample_loop(model: nn.Module, n: int, draw: Draw, gen: torch.Generator | None) -> torch.Tensor:
    """``n`` sentences (n, max_len) of ``model`` (its ``bos_id``, ``eos_id``, ``pad_id``, ``max_len``, ``device``
    and ``keep_rows``), step by step: ``draw(prev, state, u)`` gives each row's next token and the new state,
    from the rows' uniforms ``u`` (None when ``gen`` is None: a deterministic draw). Every generator's
    sampling at a temperature and the truncated decoders (``decoding.py``) share this loop.

    Only the rows still writing are stepped: a sentence that has ended leaves the batch with its state
    (``keep_rows``). Its uniforms are still drawn, one per row of the batch at every step, so each row's draws,
    hence the samples, are those of stepping every row to the end (COCO samples average 12 tokens, while a
    batch of 1,000 runs to its longest, ~26 at T = 1)."""
    pad = model.pad_id if model.pad_id is not None else 0
    out = torch.full((n, model.max_len), pad, dtype=torch.long, device=model.device)
    rows = torch.arange(n, device=model.device)  # the rows still writing
    prev = torch.full((n,), model.bos_id, dtype=torch.long, device=model.device)
    state = None
    for t in range(model.max_len):
        u = uniforms(n, gen, model.device) if gen is not None else None
        tok, state = draw(prev, state, u if u is None or len(rows) == n else u[rows])
        out[rows, t] = tok
        prev = tok
        if model.eos_id is None:
            continue
        going = tok != model.eos_id
        if not bool(going.all()):
            if not bool(going.any()):
                break  # every sentence has ended: the rest is padding
            rows, prev, state = rows[going], tok[going], model.keep_rows(state, going)
    return out


def step_and_pick(
    model: nn.Module, prev: torch.Tensor, state: object, temperature: float, u: torch.Tensor | None
) -> tuple[torch.Tensor, object]:
    """``LSTMGenerator.draw`` for a model with its own ``step`` (LeakGAN's): the whole step, then ``pick``."""
    logits, state = model.step(prev, state)
    return pick(logits, temperature, None, u), state


def log_prob_from_logits(model: nn.Module, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``log_prob`` for any model whose ``forward`` gives the teacher-forced logits (B, L, V) (LeakGAN's)."""
    lp = log_probs(model(tokens), temperature).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return torch.where(model.mask(tokens), lp, torch.zeros_like(lp))


@torch.no_grad()
def nll_from_logits(model: nn.Module, tokens: torch.Tensor, temperature: float = 1.0, batch_size: int = 500) -> float:
    """``nll`` for any model with ``log_prob_from_logits`` as its ``log_prob``."""
    total, count = 0.0, 0
    order = torch.argsort(model.mask(tokens).sum(dim=1), stable=True)
    with evaluating(model):
        for idx in order.split(batch_size):
            chunk = trim_padding(tokens[idx], model.pad_id).to(model.device)
            total -= float(model.log_prob(chunk, temperature).double().sum())
            count += int(model.mask(chunk).sum())
    return total / max(count, 1)


def nll_many_from_logits(
    model: nn.Module, tokens: torch.Tensor, temperatures: list[float], batch_size: int = 500
) -> list[float]:
    """``nll_many`` for any model whose ``forward`` gives the teacher-forced logits (B, L, V): the network runs
    once per chunk and every temperature is applied to its logits (LeakGAN's forward leaks the CNN features of
    every prefix, so running it once per temperature made NLL_test most of a LeakGAN sweep)."""

    def summed(chunk: torch.Tensor, mask: torch.Tensor, temps: list[float]) -> torch.Tensor:
        return -logits_target_log_probs(model(chunk)[mask], chunk[mask], temps).double().sum(dim=1)

    return chunked_nll(model, tokens, temperatures, batch_size, summed)


@torch.no_grad()
def chunked_nll(
    model: nn.Module,
    tokens: torch.Tensor,
    temperatures: list[float],
    batch_size: int,
    summed: Callable[[torch.Tensor, torch.Tensor, list[float]], torch.Tensor],
) -> list[float]:
    """Mean per-token NLL at every temperature, in evaluation mode: ``summed(chunk, mask, temperatures)`` gives
    a chunk's summed NLL per temperature (float64), for chunks of ``batch_size`` sentences of similar length
    (so trimming their padding saves most of the work)."""
    temps = [scoring_temperature(t) for t in temperatures]
    total = torch.zeros(len(temps), dtype=torch.float64, device=model.device)
    count = 0
    order = torch.argsort(model.mask(tokens).sum(dim=1), stable=True)
    with evaluating(model):
        for idx in order.split(batch_size):
            chunk = trim_padding(tokens[idx], model.pad_id)
            mask = model.mask(chunk)
            count += int(mask.sum())  # on the CPU copy: no device synchronisation
            chunk, mask = chunk.to(model.device), mask.to(model.device)
            total += summed(chunk, mask, temps)
    return (total / max(count, 1)).tolist()


def pad_logit_mask(vocab_size: int, pad_id: int | None) -> torch.Tensor:
    """Added to every logit vector: padding is never a word to generate, so its logit is -inf."""
    mask = torch.zeros(vocab_size)
    if pad_id is not None:
        mask[pad_id] = float("-inf")
    return mask


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block, the previous mode restored after it."""
    was = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was)

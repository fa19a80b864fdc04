"""Monte Carlo roll-outs (SeqGAN, Yu et al. 2017, eq. 4): the value of a prefix is the mean discriminator score
of K completions of it drawn from a roll-out policy; the value of the whole sentence is its own score.

``rollout_rewards`` computes every prefix and every repeat as ONE batched tensor program. The N = (L−1)·K·B
roll-out rows are ordered (prefix length t, repeat k, sentence b); their states live in one preallocated
buffer. One loop runs over the sentence positions p = 0..L−1; at each position

- every roll-out row already active takes one policy step and samples position p;
- the B "teacher-forced" rows take one step reading the sentence itself; at p = t their state is copied into
  the K·B rows of prefix length t, which then sample position p from it.

Active rows are always a leading slice (rows join in order of t), so position p costs work only for the rows
that sample there. All completions then go to the reward function in one call. On a CPU the active rows are
stepped in chunks of ``CPU_ROWS``, which bound the (rows, V) logits and the draw's buffers (512 rows: 10 MB
at V = 5,000; the fastest chunk measured, docs/performance.md); on an accelerator all rows go at once. The
uniforms are drawn row after row, so the chunk size does not change a single draw (tested).
``rollout_rewards_loop`` is the plain reference (Python loops over t and k, one completion of all B sentences
at a time) the batched program must equal, used by the tests and ``make perf``.

A policy is anything with ``max_len``, ``bos_id``, ``eos_id``, ``pad_id``, ``initial_state(n)`` and
``step(prev, state) -> (logits, state)``, where a state is a (nested list/tuple of) tensors with the batch
first; ``LSTMPolicy`` adapts the shared ``LSTMGenerator``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from langgan_bench.kernels.sampling import pick
from langgan_bench.models.networks.discriminators import CompletionReward, RewardFn
from langgan_bench.models.networks.generator import LSTMGenerator

CPU_ROWS, ACCELERATOR_ROWS = 512, 1 << 16  # rows per batched step, by device type (memory and cache)


class Policy(Protocol):
    max_len: int
    bos_id: int
    eos_id: int | None
    pad_id: int | None

    def initial_state(self, n: int) -> Any: ...

    def step(self, prev: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


class LSTMPolicy:
    """The shared LSTM generator as a roll-out policy (states batch-first, one (h, c) per layer)."""

    def __init__(self, gen: LSTMGenerator) -> None:
        self.gen = gen
        self.max_len, self.bos_id, self.eos_id, self.pad_id = gen.max_len, gen.bos_id, gen.eos_id, gen.pad_id

    def initial_state(self, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        z = torch.zeros(n, self.gen.cfg.hidden_dim, device=self.gen.device)
        return [(z, z) for _ in self.gen.layers]

    def step(self, prev: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        logits, new = self.gen.step(
            prev, [(h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()) for h, c in state]
        )
        return logits, [(h[0], c[0]) for h, c in new]


def tree_map(fn: Callable[..., torch.Tensor], *trees: Any) -> Any:
    """Apply ``fn`` leaf-wise over nested lists/tuples of tensors."""
    if isinstance(trees[0], torch.Tensor):
        return fn(*trees)
    return type(trees[0])(tree_map(fn, *leaves) for leaves in zip(*trees, strict=True))


def _chunks(rows: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    return rows.split(size) if len(rows) else ()


def _take(tree: Any, rows: torch.Tensor) -> Any:
    return tree_map(lambda s: s[rows], tree)


def _put(tree: Any, rows: torch.Tensor, values: Any) -> None:
    tree_map(lambda buf, s: buf.index_copy_(0, rows, s), tree, values)


def _pick(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.cat([pick(part, temperature, generator) for part in logits.split(row_chunk(logits.device))])


def _end(tok: torch.Tensor, done: torch.Tensor, policy: Policy) -> tuple[torch.Tensor, torch.Tensor]:
    """After a sentence's EOS every position is padding (as in ``LSTMGenerator.sample``)."""
    if policy.eos_id is None:
        return tok, done
    tok = torch.where(done, torch.full_like(tok, policy.pad_id if policy.pad_id is not None else 0), tok)
    return tok, done | (tok == policy.eos_id)


def _lengths(prefix_lengths: Sequence[int] | None, length: int) -> list[int]:
    lengths = list(range(1, length + 1) if prefix_lengths is None else prefix_lengths)
    if lengths != sorted(set(lengths)) or not all(1 <= t <= length for t in lengths):
        raise ValueError(f"prefix lengths must be increasing and within 1..{length}, got {lengths}")
    return lengths


@torch.no_grad()
def rollout_rewards(
    policy: Policy,
    tokens: torch.Tensor,
    reward_fn: RewardFn,
    k: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    prefix_lengths: Sequence[int] | None = None,
) -> torch.Tensor:
    """Rewards (B, len(prefix_lengths)) for sampled sentences ``tokens`` (B, L): for a prefix length t < L,
    the mean of ``reward_fn`` over ``k`` completions of x_{1..t}; for t = L, ``reward_fn(x)``.
    ``prefix_lengths`` defaults to every t = 1..L. The policy should be in evaluation mode."""
    b, length = tokens.shape
    lengths = _lengths(prefix_lengths, length)
    roll = [t for t in lengths if t < length]
    x, n, chunk = tokens, len(roll) * k * b, row_chunk(tokens.device)
    # every completion starts as a copy of its sentence: positions < t keep the prefix, the rest is overwritten
    out = x.repeat(len(roll) * k, 1)
    prev = torch.empty(n, dtype=torch.long, device=x.device)
    done = torch.zeros(n, dtype=torch.bool, device=x.device)
    tf_prev, tf_state = torch.full((b,), policy.bos_id, dtype=torch.long, device=x.device), policy.initial_state(b)
    rows: Any = None  # the roll-out rows' states, allocated once for all n rows
    pad = policy.pad_id if policy.pad_id is not None else 0
    active = 0
    for p in range(length if roll else 0):
        # the active roll-out rows whose sentence has not ended sample position p (in row chunks on a CPU)
        live = (~done[:active]).nonzero().squeeze(1)
        for idx in _chunks(live, chunk):
            logits, state = policy.step(prev[idx], _take(rows, idx))
            _put(rows, idx, state)
            prev[idx], done[idx] = _end(_pick(logits, temperature, generator), done[idx], policy)
        if p <= roll[-1]:  # the teacher-forced rows read the sentence until the last prefix has joined
            tf_logits, tf_state = policy.step(tf_prev, tf_state)
            if p in roll:  # K copies of the state after reading x_{1..p} join and sample position p
                if rows is None:
                    rows = tree_map(lambda s: s.new_empty((n, *s.shape[1:])), tf_state)
                new = torch.arange(active, active + k * b, device=x.device)
                _put(rows, new, tree_map(lambda s: s.repeat(k, *([1] * (s.dim() - 1))), tf_state))
                done[new], prev[new] = _prefix_done(x[:, :p], policy).repeat(k), pad
                for idx in _chunks(new[~done[new]], chunk):
                    logits = tf_logits[(idx - active) % b]
                    prev[idx], done[idx] = _end(_pick(logits, temperature, generator), done[idx], policy)
                active += k * b
            tf_prev = x[:, p]
        out[:active, p] = prev[:active]
        prev[:active][done[:active]] = pad  # a sentence that has ended only pads from now on
    # the discriminator once, on every completion and (for t = L) the sentences themselves
    if isinstance(reward_fn, CompletionReward):
        parts = [reward_fn.completions(x, out.view(len(roll), k * b, length), roll)] if roll else []
        parts += [reward_fn.score(x)] if length in lengths else []
        scores = torch.cat([s.to(torch.float32) for s in parts])
    else:
        scores = reward_fn(torch.cat([out, x]) if length in lengths else out).to(torch.float32)
    rewards = scores[: len(out)].view(len(roll), k, b).mean(dim=1).T
    if length in lengths:
        rewards = torch.cat([rewards, scores[len(out) :].unsqueeze(1)], dim=1)
    return rewards


def row_chunk(device: torch.device) -> int:
    """Rows per policy step: chunks of ``CPU_ROWS`` on a CPU, everything at once on an accelerator."""
    return CPU_ROWS if device.type == "cpu" else ACCELERATOR_ROWS


def _prefix_done(prefix: torch.Tensor, policy: Policy) -> torch.Tensor:
    if policy.eos_id is None:
        return torch.zeros(len(prefix), dtype=torch.bool, device=prefix.device)
    return (prefix == policy.eos_id).any(dim=1)


@torch.no_grad()
def complete(
    policy: Policy, prefix: torch.Tensor, length: int, temperature: float, generator: torch.Generator | None
) -> torch.Tensor:
    """One completion of every row of ``prefix`` (B, t) to ``length`` tokens, step by step."""
    b, t = prefix.shape
    prev, state = torch.full((b,), policy.bos_id, dtype=torch.long, device=prefix.device), policy.initial_state(b)
    done = _prefix_done(prefix, policy)
    out = []
    for p in range(length):
        logits, state = policy.step(prev, state)
        if p < t:
            prev = prefix[:, p]
        else:
            prev, done = _end(_pick(logits, temperature, generator), done, policy)
        out.append(prev)
    return torch.stack(out, dim=1)


@torch.no_grad()
def rollout_rewards_loop(
    policy: Policy,
    tokens: torch.Tensor,
    reward_fn: RewardFn,
    k: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    prefix_lengths: Sequence[int] | None = None,
) -> torch.Tensor:
    """The reference: the same rewards as ``rollout_rewards``, one prefix and one repeat at a time."""
    length = tokens.shape[1]
    x = tokens
    columns = []
    for t in _lengths(prefix_lengths, length):
        if t == length:
            columns.append(reward_fn(x).to(torch.float32))
            continue
        total = torch.zeros(len(x), device=x.device)
        for _ in range(k):
            total += reward_fn(complete(policy, x[:, :t], length, temperature, generator)).to(torch.float32)
        columns.append(total / k)
    return torch.stack(columns, dim=1)

"""The discriminators shared by the GANs (the routine that trains them: ``training/discriminator.py``).

- ``CNNFeatures``: Kim (2014)-style sentence encoder as in SeqGAN: embedding, one convolution per filter width,
  ReLU, max over time, a highway layer. Its output is the feature vector LeakGAN leaks to its manager and the
  sentence representation RankGAN's ranker compares.
- ``CNNDiscriminator`` (SeqGAN, LeakGAN): the features, dropout, one logit (real vs generated).
- ``CNNRanker`` (RankGAN): the features scored by cosine similarity to a reference set of real sentences and
  ranked by a softmax (temperature gamma) over a comparison set.
- ``LSTMDiscriminator`` (ScratchGAN): embedding with dropout, position signal, a layer-normalised LSTM and a
  logit at every step, so every prefix gets its own score.

Token ids are the dataset's; the CNN has one extra input id, ``BLANK`` = vocab size, for the positions of a
partial sentence that are not generated yet (LeakGAN scores prefixes), so no real word doubles as "empty".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from langgan_bench.datasets.base import sequence_mask
from langgan_bench.kernels.dense import Dense, dense, dense_matmul
from langgan_bench.kernels.windows import tap_major, unfolds, window_max
from langgan_bench.models.networks.generator import evaluating

RewardFn = Callable[[torch.Tensor], torch.Tensor]  # complete sentences (N, L) -> one score per row (N,)
SCORE_BATCH = 4096  # rows per forward pass when scoring many sentences (bounds memory, not results)


def l2_penalty(params: Any) -> torch.Tensor:
    """½ Σ‖p‖², TensorFlow's ``l2_loss`` (the papers' regularisers are written with it)."""
    return torch.stack([p.pow(2).sum() for p in params]).sum() / 2


def fitting_filters(sizes: tuple[int, ...], counts: tuple[int, ...], max_len: int) -> list[tuple[int, int]]:
    """(width, filters) of every filter no wider than the sentences: a wider one would see nothing (this only
    matters for short datasets)."""
    widths = [(w, n) for w, n in zip(sizes, counts, strict=True) if w <= max_len]
    if not widths:
        raise ValueError(f"no CNN filter fits sentences of length {max_len}")
    return widths


@dataclass(frozen=True)
class CNNConfig:
    emb_dim: int = 64
    filter_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
    num_filters: tuple[int, ...] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
    dropout: float = 0.25  # SeqGAN: keep probability 0.75
    l2_out: float = 0.2  # SeqGAN: L2 on the output layer (l2_reg_lambda)


class CNNFeatures(nn.Module):
    """Sentence (B, L) -> feature vector (B, F): conv per width, ReLU, max over time, highway.

    ``forward`` is the definition. The other three entry points compute ``forward`` of many related
    sentences (tested against it, equal up to float rounding), because the GANs ask for those in bulk:
    ``completions`` (SeqGAN's and RankGAN's roll-out completions, which share their prefix's windows),
    ``all_prefixes`` (every prefix of a sentence: LeakGAN's teacher-forced leak) and ``prefix_step`` (the
    growing prefix while LeakGAN samples). Each convolution is ``window_max`` (``kernels/windows.py``).
    """

    def __init__(self, vocab_size: int, max_len: int, cfg: CNNConfig) -> None:
        super().__init__()
        widths = fitting_filters(cfg.filter_sizes, cfg.num_filters, max_len)
        self.blank_id, self.max_len = vocab_size, max_len
        self.embed = nn.Embedding(vocab_size + 1, cfg.emb_dim)
        self.convs = nn.ModuleList(tap_major(nn.Conv1d(cfg.emb_dim, n, w)) for w, n in widths)
        self.dim = sum(n for _, n in widths)
        self.transform = Dense(self.dim, self.dim)
        self.gate = Dense(self.dim, self.dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.highway(self.pooled(tokens))

    def pooled(self, tokens: torch.Tensor) -> torch.Tensor:
        """Every filter's ReLU activation, max over time (B, F)."""
        self._check_width(tokens)
        e = self.embed(tokens)
        x = None if all(unfolds(conv, e) for conv in self.convs) else e.transpose(1, 2).contiguous()
        return torch.relu(torch.cat([window_max(conv, e, x) for conv in self.convs], dim=1))

    def highway(self, h: torch.Tensor) -> torch.Tensor:
        """Highway (Srivastava et al. 2015): t·relu(W h) + (1 − t)·h = lerp(h, relu(W h), t), t = σ(G h); the
        ReLU and the sigmoid applied by the products (``linear``'s post-ops)."""
        t = dense(h, self.gate.weight, self.gate.bias, "sigmoid")
        return torch.lerp(h, dense(h, self.transform.weight, self.transform.bias, "relu"), t)

    def completions(self, sentences: torch.Tensor, rows: torch.Tensor, prefix_lengths: Sequence[int]) -> torch.Tensor:
        """``forward`` of every roll-out completion, knowing what it shares with its sentence.

        ``rows`` (T, R, L) holds, for the i-th prefix length t, R completions whose row r starts with the first
        t tokens of ``sentences[r % B]`` (B, L). A window that ends inside the prefix is the sentence's own, so
        its activation is computed once per sentence and enters as a running maximum; only the windows that
        reach the generated part are convolved per completion (about 2/3 of the convolution work of SeqGAN's
        paper CNN at L = 20). Equal to ``forward(rows)`` up to float rounding (other batch shapes)."""
        self._check_width(sentences)
        b = len(sentences)
        own = self.embed(sentences).transpose(1, 2)
        # running maximum over the sentence's own windows 0..j, per filter: (B, filters, windows)
        prefix_max = [torch.relu(conv(own)).cummax(dim=2).values for conv in self.convs]
        out = []
        for i, t in enumerate(prefix_lengths):
            for part in torch.arange(rows.shape[1], device=rows.device).split(SCORE_BATCH):
                e = self.embed(rows[i, part])
                pooled = []
                for conv, before in zip(self.convs, prefix_max, strict=True):
                    w = conv.kernel_size[0]
                    start = max(0, t - w + 1)  # the first window that reaches position t (0-based, generated)
                    h = torch.relu(window_max(conv, e[:, start:]))
                    if start > 0:  # windows 0..start-1 lie inside the prefix
                        h = torch.maximum(h, before[part % b, :, start - 1])
                    pooled.append(h)
                out.append(self.highway(torch.cat(pooled, dim=1)))  # per part: its tensors stay in the cache
        return torch.cat(out)

    @torch.no_grad()
    def all_prefixes(self, tokens: torch.Tensor) -> torch.Tensor:
        """``forward`` of every prefix x_{<t}, t = 0..L, of sentences ``tokens`` (B, L ≤ max_len), each prefix
        filled up to max_len with ``blank_id``: (B, L + 1, F), up to float rounding.

        Convolving the L + 1 prefixes one by one costs L + 1 convolutions per sentence. Here each tap of each
        filter is applied to each position once (one product); a window's pre-activation is then the running
        sum of its taps. With m of its w taps written, it is that sum plus the blank tail (the last w − m
        taps applied to the blank word: one vector per m); it belongs to prefix t = start + m. Finished
        windows enter as a running maximum over their starts, wholly blank ones as one value (LeakGAN's
        leaked features of a teacher-forced sentence: ~30x fewer products at COCO's length)."""
        b, length = tokens.shape
        wide = F.pad(tokens, (0, self.max_len - length), value=self.blank_id)
        x = self.embed(wide)  # (B, M, E)
        pooled = []
        for conv, taps in zip(self.convs, self._taps(x), strict=True):
            n, w = conv.out_channels, conv.kernel_size[0]
            starts = self.max_len - w + 1
            tail = self._blank_tail(conv)
            best = torch.zeros(b, length + 1, n, dtype=x.dtype, device=x.device)
            acc = torch.zeros(b, starts, n, dtype=x.dtype, device=x.device)
            for m in range(1, w + 1):
                acc += taps[:, m - 1 : m - 1 + starts, m - 1]  # tap m-1 of the window starting at s: position s+m-1
                if m == w:
                    break
                t_end = min(m + starts, length + 1)  # prefix t = s + m, for t ≤ L
                if t_end > m:
                    part = torch.relu(acc[:, : t_end - m] + tail[m])
                    torch.maximum(best[:, m:t_end], part, out=best[:, m:t_end])
            # finished windows: s + w ≤ t, as a running maximum over s
            done = torch.relu(acc + conv.bias).cummax(dim=1).values  # (B, starts, n)
            if length >= w:
                best[:, w:] = torch.maximum(best[:, w:], done[:, : length + 1 - w])
            # wholly blank windows (s ≥ t): one value, for t ≤ max_len - w
            blank_t = min(starts, length + 1)
            best[:, :blank_t] = torch.maximum(best[:, :blank_t], torch.relu(tail[0]))
            pooled.append(best)
        return self.highway(torch.cat(pooled, dim=2))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every tap of every filter applied to embeddings ``x`` (..., E), in one product: per filter of
        width w and n channels, (..., w, n), tap j being the weight that meets the window's j-th word."""
        mats = [conv.weight.permute(1, 2, 0).reshape(x.shape[-1], -1) for conv in self.convs]  # (E, w·n) each
        out = dense_matmul(x, torch.cat(mats, dim=1)).split([m.shape[1] for m in mats], dim=-1)
        return [o.unflatten(-1, (c.kernel_size[0], c.out_channels)) for o, c in zip(out, self.convs, strict=True)]

    def _blank_tail(self, conv: nn.Conv1d) -> torch.Tensor:
        """(w + 1, n): row m is the bias plus the taps m..w−1 applied to the blank word: the part of a window's
        pre-activation that its blank words give when its first m words are written."""
        blank = self.embed.weight[self.blank_id] @ conv.weight  # (n, w): tap j on the blank word
        after = torch.flip(torch.cumsum(torch.flip(blank, [-1]), -1), [-1]).T  # Σ_{j ≥ m}, m = 0..w−1
        return torch.cat([after, after.new_zeros(1, after.shape[1])]) + conv.bias

    @property
    def step_state_size(self) -> int:
        """Width of ``prefix_step``'s state: every filter's running maximum over finished windows, then the
        running tap sums of its w − 1 open windows."""
        return self.dim + sum((c.kernel_size[0] - 1) * c.out_channels for c in self.convs)

    @torch.no_grad()
    def prefix_step(
        self, prefix: torch.Tensor, written: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward(prefix)`` (N, F) for partial sentences whose first ``written`` (N,) positions hold tokens and
        the rest ``blank_id``, one position at a time: ``state`` (N, ``step_state_size``; zeros at the start)
        is what the previous position handed on; returns the features and the state for the next position.

        The state holds every filter's maximum over the windows wholly written (they never change again) and
        the running tap sums of its open windows (those with 1..w−1 words written). A new word is put
        through every tap once (one (N, E) x (E, Σ w·n) product): each open window adds its next tap, the
        window it completes joins the maximum, and it opens a window of its own. An open window's
        pre-activation is its sum plus its blank tail; wholly blank windows have one value. Rows at different
        positions replay the positions one by one. Equal to ``forward(prefix)`` up to float rounding."""
        self._check_width(prefix)
        p = int(written[0]) if len(written) else 0
        if bool((written == p).all()):
            return self._step_at(prefix, p, state)
        feats = prefix.new_zeros(len(prefix), self.dim, dtype=state.dtype)
        after, here = torch.zeros_like(state), torch.zeros_like(state)
        cols = torch.arange(self.max_len, device=prefix.device)
        for q in range(int(written.max()) + 1):
            f, here = self._step_at(torch.where(cols < q, prefix, self.blank_id), q, here)
            rows = written == q
            feats[rows], after[rows] = f[rows], here[rows]
        return feats, after

    def _step_at(self, prefix: torch.Tensor, p: int, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``prefix_step`` for rows that all hold p words (the newest at position p − 1)."""
        widths, channels = [c.kernel_size[0] for c in self.convs], [c.out_channels for c in self.convs]
        parts = state.split(channels + [(w - 1) * n for w, n in zip(widths, channels, strict=True)], dim=1)
        runs, opens = parts[: len(widths)], parts[len(widths) :]
        taps = self._taps(self.embed(prefix[:, p - 1])) if p > 0 else [None] * len(widths)
        pooled, new_runs, new_opens = [], [], []
        for conv, w, run, open_, tap in zip(self.convs, widths, runs, opens, taps, strict=True):
            n, last = conv.out_channels, self.max_len - w  # windows start at 0..last
            open_ = open_.view(len(state), w - 1, n)  # [:, m − 1]: the window with m words written (it starts at p − m)
            if tap is not None:
                # the window starting at p − w gets its last word: it is finished (if it exists)
                full = tap[:, w - 1] + open_[:, w - 2] if w > 1 else tap[:, 0]
                if p - w >= 0:
                    run = torch.maximum(run, torch.relu(full + conv.bias))
                if w > 1:  # each open window adds its next tap; the new word opens a window
                    open_ = torch.cat([tap[:, :1], open_[:, : w - 2] + tap[:, 1 : w - 1]], dim=1)
            cur, tail = run, self._blank_tail(conv)
            lo, hi = max(1, p - last), min(w - 1, p)  # open windows that exist: 0 ≤ p − m ≤ last
            if lo <= hi:
                cur = torch.maximum(cur, torch.relu(open_[:, lo - 1 : hi] + tail[lo : hi + 1]).amax(dim=1))
            if p <= last:  # some window is still wholly blank
                cur = torch.maximum(cur, torch.relu(tail[0]))
            pooled.append(cur)
            new_runs.append(run)
            new_opens.append(open_.flatten(1))
        return self.highway(torch.cat(pooled, dim=1)), torch.cat(new_runs + new_opens, dim=1)

    def _check_width(self, tokens: torch.Tensor) -> None:
        if tokens.shape[-1] != self.max_len:  # max-pooling sees padding too: a narrower input is another sentence
            raise ValueError(f"the CNN reads sentences of exactly {self.max_len} tokens, got {tokens.shape[-1]}")


@dataclass(frozen=True)
class CompletionReward:
    """A reward that can also score roll-out completions knowing their prefixes, so work on a prefix that
    every completion shares with its sentence is done once (a CNN's windows inside the prefix).

    ``score(tokens)`` is the plain reward (N, L) -> (N,); ``completions(sentences, rows, prefix_lengths)``
    scores ``rows`` (T, R, L), where row r of block i continues ``sentences[r % B]`` after its first
    ``prefix_lengths[i]`` tokens, and returns (T·R,) equal to ``score(rows.flatten(0, 1))`` up to float
    rounding."""

    score: RewardFn
    completions: Callable[[torch.Tensor, torch.Tensor, Sequence[int]], torch.Tensor]

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.score(tokens)


class CNNDiscriminator(nn.Module):
    """SeqGAN's discriminator: CNN features, dropout, one logit per sentence (real = 1)."""

    def __init__(self, vocab_size: int, max_len: int, cfg: CNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = CNNFeatures(vocab_size, max_len, cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = Dense(self.features.dim, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(tokens))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(features)).squeeze(-1)

    def loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        logits = self(torch.cat([real, fake]))
        labels = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(logits)
        penalty = l2_penalty(self.out.parameters()).to(logits)
        return F.binary_cross_entropy_with_logits(logits, labels) + self.cfg.l2_out * penalty

    @torch.no_grad()
    def prob_real(self, tokens: torch.Tensor) -> torch.Tensor:
        """D(x) for every row, in evaluation mode (the reward SeqGAN and LeakGAN use)."""
        with evaluating(self):
            return torch.cat([torch.sigmoid(self(chunk)) for chunk in tokens.split(SCORE_BATCH)])

    @torch.no_grad()
    def prob_real_completions(
        self, sentences: torch.Tensor, rows: torch.Tensor, prefix_lengths: Sequence[int]
    ) -> torch.Tensor:
        """``prob_real`` of roll-out completions, sharing their prefixes' windows (``CNNFeatures.completions``)."""
        with evaluating(self):
            return torch.sigmoid(self.head(self.features.completions(sentences, rows, prefix_lengths)))

    def reward(self) -> CompletionReward:
        """D(x) as a roll-out reward that scores completions through their shared prefixes."""
        return CompletionReward(self.prob_real, self.prob_real_completions)


class CNNRanker(nn.Module):
    """RankGAN's ranker (Lin et al. 2017, eqs. 2-3).

    relevance α(s | U) = mean over reference sentences u ∈ U of cos(y_s, y_u), with y the CNN features;
    rank score R(s | U, C) = exp(γ α(s|U)) / Σ_{s' ∈ C ∪ {s}} exp(γ α(s'|U)).
    """

    def __init__(self, vocab_size: int, max_len: int, cfg: CNNConfig, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma
        self.features = CNNFeatures(vocab_size, max_len, cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.dropout(self.features(tokens)), dim=-1)

    def relevance(self, tokens: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        """γ·α(s | U) for every row of ``tokens`` (B,), given reference sentences ``refs`` (|U|, L)."""
        return self.gamma * (self.embed(tokens) @ self.embed(refs).mean(0))  # mean of cosines = cos · mean

    def loss(self, real: torch.Tensor, fake: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        """−E_real[log R(s | U, C⁻)] − E_fake[log(1 − R(s | U, C⁺))]: real sentences ranked among the
        generated ones (C⁻), generated sentences among the real ones (C⁺)."""
        a = self.relevance(torch.cat([real, fake]), refs)
        a_real, a_fake = a[: len(real)], a[len(real) :]
        lse_fake, lse_real = torch.logsumexp(a_fake, 0), torch.logsumexp(a_real, 0)
        log_r_real = a_real - torch.logaddexp(a_real, lse_fake)
        log_not_r_fake = lse_real - torch.logaddexp(a_fake, lse_real)  # log(1 − R) = log Σ_C⁺ / Σ_{C⁺ ∪ {s}}
        return -(log_r_real.mean() + log_not_r_fake.mean())

    @torch.no_grad()
    def rank_score(self, tokens: torch.Tensor, refs: torch.Tensor, comparison: torch.Tensor) -> torch.Tensor:
        """R(s | U, C) for every row, each ranked on its own against the comparison set (evaluation mode)."""
        with evaluating(self):
            return self._rank([self.features(chunk) for chunk in tokens.split(SCORE_BATCH)], refs, comparison)

    @torch.no_grad()
    def rank_score_completions(
        self,
        sentences: torch.Tensor,
        rows: torch.Tensor,
        prefix_lengths: Sequence[int],
        refs: torch.Tensor,
        comparison: torch.Tensor,
    ) -> torch.Tensor:
        """``rank_score`` of roll-out completions, sharing their prefixes' windows (``CNNFeatures.completions``)."""
        with evaluating(self):
            return self._rank([self.features.completions(sentences, rows, prefix_lengths)], refs, comparison)

    def _rank(self, features: list[torch.Tensor], refs: torch.Tensor, comparison: torch.Tensor) -> torch.Tensor:
        ref = self.embed(refs).mean(0)
        lse_c = torch.logsumexp(self.gamma * (self.embed(comparison) @ ref), 0)
        a = torch.cat([self.gamma * (F.normalize(self.dropout(f), dim=-1) @ ref) for f in features])
        return torch.exp(a - torch.logaddexp(a, lse_c))


@dataclass(frozen=True)
class LSTMDiscConfig:
    emb_dim: int = 64  # ScratchGAN: trainable_embedding_size
    hidden_dim: int = 512  # disc_feature_size
    num_layers: int = 1  # num_layers_disc
    position_dim: int = 8  # ScratchGAN appends a position signal of this size to the embeddings
    dropout: float = 0.1  # disc_dropout, on the embedding matrix
    layer_norm: bool = True  # layer_norm_disc
    l2: float = 1e-6  # l2_disc: weight decay written as an L2 term on every parameter


class LayerNormLSTM(nn.Module):
    """An LSTM whose gate pre-activations are layer-normalised (Ba et al. 2016), as Sonnet's
    ``LSTM(use_layer_norm=True)`` that ScratchGAN uses; forget-gate bias 1."""

    def __init__(self, input_dim: int, hidden_dim: int, layer_norm: bool) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.linear = Dense(input_dim + hidden_dim, 4 * hidden_dim)
        self.norm = nn.LayerNorm(4 * hidden_dim) if layer_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = x.new_zeros(x.shape[0], self.hidden_dim)
        outs = []
        for t in range(x.shape[1]):
            i, f, g, o = self.norm(self.linear(torch.cat([x[:, t], h], dim=1))).chunk(4, dim=1)
            c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, dim=1)


class LSTMDiscriminator(nn.Module):
    """ScratchGAN's discriminator: a logit for every prefix x_{1..t}, masked past the end of the sentence."""

    def __init__(self, vocab_size: int, max_len: int, cfg: LSTMDiscConfig, eos_id: int | None) -> None:
        super().__init__()
        self.cfg, self.eos_id = cfg, eos_id
        self.embed = nn.Embedding(vocab_size, cfg.emb_dim)
        self.register_buffer("position", _timing_signal(max_len, cfg.position_dim), persistent=False)
        self.inp = Dense(cfg.emb_dim + cfg.position_dim, cfg.hidden_dim)
        h = cfg.hidden_dim
        self.layers = nn.ModuleList(LayerNormLSTM(h, h, cfg.layer_norm) for _ in range(cfg.num_layers))
        self.out = Dense(cfg.hidden_dim, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, L); 0 past the first EOS (those positions carry no decision)."""
        # dropout on the embedding matrix itself, as ScratchGAN does
        weight = F.dropout(self.embed.weight, self.cfg.dropout, self.training)
        x = F.embedding(tokens, weight)
        x = torch.cat([x, self.position[:, : tokens.shape[1]].expand(len(tokens), -1, -1)], dim=2)
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        logits = self.out(h).squeeze(-1)
        return logits * sequence_mask(tokens, self.eos_id)

    def loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """½ CE(real, 1) + ½ CE(fake, 0) at every counted step, plus the L2 term."""
        losses = []
        for x, label in ((real, 1.0), (fake, 0.0)):
            logits, mask = self(x), sequence_mask(x, self.eos_id)
            ce = F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label), reduction="none")
            losses.append((ce * mask).sum() / mask.sum())
        return 0.5 * (losses[0] + losses[1]) + self.cfg.l2 * l2_penalty(self.parameters()).to(losses[0])

    @torch.no_grad()
    def prob_real(self, tokens: torch.Tensor) -> torch.Tensor:
        """D(x_{1..t}) for every row and step (B, L), in evaluation mode."""
        with evaluating(self):
            return torch.cat([torch.sigmoid(self(chunk)) for chunk in tokens.split(SCORE_BATCH)])


def _timing_signal(length: int, dim: int) -> torch.Tensor:
    """Sinusoidal position features (Vaswani et al. 2017), (1, length, dim)."""
    pos = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(-math.log(1e4) * torch.arange(0, dim, 2, dtype=torch.float32) / max(dim, 1))
    sig = torch.zeros(length, dim)
    sig[:, 0::2] = torch.sin(pos * freq)
    sig[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return sig.unsqueeze(0)

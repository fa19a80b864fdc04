"""LeakGAN-lite (Guo et al., AAAI 2018): a hierarchical generator steered by features leaked from the CNN
discriminator.

Generator (``LeakGenerator``). At step t (writing token t) the discriminator's CNN feature f_t of the prefix
written so far (not-yet-written positions are the CNN's BLANK id) is leaked to the MANAGER LSTM, which emits a
unit sub-goal g_t ∈ R^F. Every c steps the worker gets a new goal: the sum of the manager's c sub-goals of the
previous window (the learned ``goal_init`` in the first window), projected to w_t = normalise(ψ·goal) ∈ R^k. The
WORKER LSTM reads the previous token and outputs a matrix O_t ∈ R^{V×k}; the logits are O_t·w_t.

Training (the template's phases, ``template.py``; each checkpointed and resumable at any step):
1. Interleaved pre-training, ``cycles`` times: discriminator rounds on fresh negatives, then MLE epochs of the
   generator (worker: NLL with the goals held fixed; manager: −cos(f_{t+c} − f_t, goal_t) over windows).
2. Adversarial epochs: one generator step on a fresh batch. Rewards Q come from K Monte Carlo roll-outs (the
   generator itself completes the prefix) at the end of every window, scored by D, then rescaled by rank
   within the batch ("bootstrapped rescaled activation", σ(δ·(0.5 − rank/B))). Manager loss:
   −Q·cos(f_{t+c} − f_t, goal_t); worker loss: REINFORCE with the intrinsic reward
   r_t = (1/c) Σ_{i=1..c} cos(f_t − f_{t−i}, g_{t−i}). Every ``mle_every`` epochs one interleaved MLE epoch;
   then discriminator rounds on fresh negatives.

What "lite" simplifies or leaves out, versus the paper and its code (CR-Gjx/LeakGAN):
- sizes and budgets: the ``small``/``tiny`` profiles use a 10x narrower CNN (so a smaller goal space F), a
  smaller goal embedding k, and far fewer epochs; ``paper`` keeps the paper's;
- no learning-rate decay (the code decays Adam's rate by 0.96 every 200 pre-training / 30 adversarial steps);
- no sampling temperature inside the model (the code multiplies the logits by 1.5 in its first steps); the
  harness's temperature helper is the only one;
- the manager and worker are trained by one Adam with two parameter groups (the code: two optimisers with the
  same settings), and the worker's losses never reach the manager (the goals are held fixed for it);
- the feature of a prefix marks not-yet-written positions with the CNN's own BLANK embedding (the code pads
  with the id −1).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from langgan_bench.core.config import derive_seed
from langgan_bench.datasets.base import Dataset, trim_padding
from langgan_bench.kernels.dense import Dense, dense
from langgan_bench.kernels.sampling import log_probs
from langgan_bench.models.networks.discriminators import SCORE_BATCH, CNNConfig, CNNDiscriminator, CNNFeatures
from langgan_bench.models.networks.generator import (
    LSTMGenerator,
    evaluating,
    log_prob_from_logits,
    nll_many_from_logits,
    pad_logit_mask,
    step_and_pick,
)
from langgan_bench.models.seqgan import _SMALL_CNN, _TINY_CNN
from langgan_bench.models.training.base import TrainContext, adam, optimise
from langgan_bench.models.training.discriminator import DiscTraining, classifier_accuracy
from langgan_bench.models.training.optim import Optimizer
from langgan_bench.models.training.policy_gradient import check_collapse, policy_gradient_loss
from langgan_bench.models.training.rollout import rollout_rewards
from langgan_bench.models.training.template import (
    AdversarialEpochs,
    AdversarialModel,
    DiscriminatorRounds,
    Phase,
    SupervisedEpochs,
)

State = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class LeakGeneratorConfig:
    emb_dim: int = 32
    hidden_dim: int = 32  # worker and manager LSTMs
    goal_size: int = 16  # k
    step_size: int = 4  # c


class LeakGenerator(nn.Module):
    """The hierarchical generator; implements the Generator contract and the roll-out policy protocol."""

    # The shared generator's sampling loop (seeding, EOS and padding), scoring and masks, reused as they are:
    # they only need ``step``, ``forward`` (teacher-forced logits) and the ids below.
    sample = LSTMGenerator.sample
    _sample_batch = LSTMGenerator._sample_batch
    draw = step_and_pick
    log_prob = log_prob_from_logits
    nll_many = nll_many_from_logits
    nll = LSTMGenerator.nll  # one temperature through ``nll_many``
    mask = LSTMGenerator.mask
    inputs_for = LSTMGenerator.inputs_for

    def __init__(
        self, vocab_size: int, max_len: int, cfg: LeakGeneratorConfig, leak: CNNFeatures, eos_id: int | None,
        pad_id: int | None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.vocab_size, self.max_len, self.cfg = vocab_size, max_len, cfg
        self.eos_id, self.pad_id, self.bos_id = eos_id, pad_id, vocab_size
        self.leak = leak  # the discriminator's feature extractor (trained only as part of the discriminator)
        f, h, k = leak.dim, cfg.hidden_dim, cfg.goal_size
        self.manager = nn.LSTM(f, h, batch_first=True)
        self.goal_head = Dense(h, f)
        self.goal_init = nn.Parameter(0.1 * torch.randn(f))
        self.embed = nn.Embedding(vocab_size + 1, cfg.emb_dim)
        self.worker = nn.LSTM(cfg.emb_dim, h, batch_first=True)
        self.goal_change = Dense(f, k, bias=False)  # ψ
        # O_t = reshape(W h_t + b, (V, k)); stored so that O_t·w is one product of (w ⊗ h) with (V, k·h)
        bound = 1 / math.sqrt(h)
        self.out_weight = nn.Parameter(torch.empty(vocab_size, k * h).uniform_(-bound, bound))
        self.out_bias = nn.Parameter(torch.empty(vocab_size, k).uniform_(-bound, bound))
        self.register_buffer("logit_mask", pad_logit_mask(vocab_size, pad_id), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.out_weight.device

    def param_groups(self) -> list[list[nn.Parameter]]:
        """[manager parameters, worker parameters]; the leaked CNN belongs to the discriminator."""
        manager = [*self.manager.parameters(), *self.goal_head.parameters(), self.goal_init]
        worker = [*self.embed.parameters(), *self.worker.parameters(), *self.goal_change.parameters()]
        return [manager, [*worker, self.out_weight, self.out_bias]]

    def prefix_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """f_t for t = 0..L: the features of every prefix x_{<t} (B, L+1, F). Prefixes are always max_len
        wide, as while sampling, also when the caller trimmed trailing padding (L < max_len); each tap of
        the CNN is applied to each position once (``CNNFeatures.all_prefixes``). No gradient flows into the
        discriminator: the leaked CNN is trained only as part of it."""
        rows = max(1, SCORE_BATCH // (self.max_len + 1))  # at most SCORE_BATCH prefixes at once (bounds memory)
        return torch.cat([self.leak.all_prefixes(chunk) for chunk in tokens.split(rows)])

    def _logits(self, h: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        w = F.normalize(self.goal_change(goal), dim=-1)  # (..., k)
        z = (w.unsqueeze(-1) * h.unsqueeze(-2)).flatten(-2)  # w ⊗ h, (..., k·H)
        return dense(z, self.out_weight) + dense(w, self.out_bias) + self.logit_mask

    def window_goals(self, sub_goals: torch.Tensor) -> torch.Tensor:
        """The worker's goal at every step (B, L, F): goal_init in the first window, then the sum of the
        previous window's sub-goals."""
        b, length, f = sub_goals.shape
        c = self.cfg.step_size
        windows = -(-length // c)
        padded = F.pad(sub_goals, (0, 0, 0, windows * c - length))
        sums = padded.view(b, windows, c, f).sum(dim=2)
        goals = torch.cat([self.goal_init.expand(b, 1, f), sums[:, :-1]], dim=1)
        return goals.repeat_interleave(c, dim=1)[:, :length]

    def teacher_forced(self, tokens: torch.Tensor, hold_goals: bool = False) -> dict[str, torch.Tensor]:
        """Logits (B, L, V), prefix features (B, L+1, F), sub-goals and the worker's goals (B, L, F)."""
        feats = self.prefix_features(tokens)
        h_m, _ = self.manager(feats[:, :-1])
        sub_goals = F.normalize(self.goal_head(h_m), dim=-1)
        goals = self.window_goals(sub_goals)
        h_w, _ = self.worker(self.embed(self.inputs_for(tokens)))
        logits = self._logits(h_w, goals.detach() if hold_goals else goals)
        return {"logits": logits, "features": feats, "sub_goals": sub_goals, "goals": goals}

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.teacher_forced(tokens)["logits"]

    # --- step by step (sampling and roll-outs) -------------------------------------------------------------
    def initial_state(self, n: int) -> State:
        """(prefix so far, position, worker h, c, manager h, c, current goal, this window's goal sum, the leaked
        CNN's step state: maxima over the prefix's finished windows, tap sums of its open ones)."""
        dev, h = self.device, self.cfg.hidden_dim
        z = torch.zeros(n, h, device=dev)
        prefix = torch.full((n, self.max_len), self.leak.blank_id, dtype=torch.long, device=dev)
        goal = self.goal_init.detach().expand(n, -1).clone()
        cnn = torch.zeros(n, self.leak.step_state_size, device=dev)
        return prefix, torch.zeros(n, dtype=torch.long, device=dev), z, z, z, z, goal, torch.zeros_like(goal), cnn

    def step(self, prev: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Previous token ids (N,) -> next-token logits (N, V); the same computation as ``teacher_forced``."""
        prefix, pos, hw, cw, hm, cm, goal, acc, cnn = self.initial_state(len(prev)) if state is None else state
        cols = torch.arange(self.max_len, device=prev.device)
        prefix = torch.where(cols == (pos - 1).unsqueeze(1), prev.unsqueeze(1), prefix)  # nothing at t = 0
        feats, cnn = self.leak.prefix_step(prefix, pos, cnn)  # f_t, the new word through every tap once
        _, (hm, cm) = self.manager(feats.unsqueeze(1), (hm.unsqueeze(0), cm.unsqueeze(0)))
        sub_goal = F.normalize(self.goal_head(hm[0]), dim=-1)
        new_window = ((pos > 0) & (pos % self.cfg.step_size == 0)).unsqueeze(1)
        goal = torch.where(new_window, acc, goal)
        acc = torch.where(new_window, 0.0, acc) + sub_goal
        _, (hw, cw) = self.worker(self.embed(prev).unsqueeze(1), (hw.unsqueeze(0), cw.unsqueeze(0)))
        logits = self._logits(hw[0], goal)
        return logits, (prefix, pos + 1, hw[0], cw[0], hm[0], cm[0], goal, acc, cnn)

    @staticmethod
    def keep_rows(state: State, keep: torch.Tensor) -> State:
        """The step state of the rows ``keep``: a boolean mask over the batch, or row indices (repeats allowed:
        a beam's parents)."""
        return tuple(s[keep] for s in state)


def token_log_probs(out: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """log π(x_t | x_<t) of the tokens (B, L) from ``teacher_forced`` output (T = 1)."""
    return log_probs(out["logits"], 1.0).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def window_ends(length: int, c: int) -> list[int]:
    """Prefix lengths that close a window: c, 2c, ..., L."""
    return sorted({min(e, length) for e in range(c, length + c, c)})


def manager_loss(
    out: dict[str, torch.Tensor], c: int, mask: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """−mean over windows of Q_w · cos(f_{end of w} − f_{start of w}, goal of w) (Q = 1 in pre-training);
    a window counts if it starts inside the sentence (``mask``: the counted positions)."""
    feats, goals = out["features"], out["goals"]
    length = goals.shape[1]
    starts = list(range(0, length, c))
    ends = [min(s + c, length) for s in starts]
    moves = feats[:, ends] - feats[:, starts]
    cos = F.cosine_similarity(moves, goals[:, starts], dim=-1)  # (B, windows)
    counted = mask[:, starts]
    return -torch.where(counted, cos * (weights if weights is not None else 1.0), 0.0).sum() / counted.sum()


def intrinsic_rewards(out: dict[str, torch.Tensor], c: int) -> torch.Tensor:
    """r_t = (1/c) Σ_{i=1..c} cos(f_t − f_{t−i}, g_{t−i}) for the token written at every step (B, L)."""
    feats, sub_goals = out["features"].detach(), out["sub_goals"].detach()
    length = sub_goals.shape[1]
    after = torch.arange(1, length + 1, device=feats.device)  # the prefix length once token t is written
    total = torch.zeros(sub_goals.shape[:2], device=feats.device)
    for i in range(1, c + 1):
        j = after - i
        cos = F.cosine_similarity(feats[:, after] - feats[:, j.clamp(min=0)], sub_goals[:, j.clamp(min=0)], dim=-1)
        total += cos * (j >= 0)
    return total / c


def rescale(rewards: torch.Tensor, delta: float) -> torch.Tensor:
    """Bootstrapped rescaled activation: per column, σ(δ·(0.5 − rank/B)), rank 1 = the highest reward."""
    b = rewards.shape[0]
    order = rewards.argsort(dim=0, descending=True)
    ranks = torch.empty_like(order).scatter_(
        0, order, torch.arange(1, b + 1, device=rewards.device).unsqueeze(1).expand_as(order)
    )
    return torch.sigmoid(delta * (0.5 - ranks.to(rewards.dtype) / b))


@dataclass(frozen=True)
class LeakTraining:
    cycles: int = 10  # interleaved pre-training: (discriminator rounds, then MLE epochs) this many times
    mle_epochs: int = 8  # per cycle
    batch_size: int = 64
    lr: float = 1.5e-3
    grad_clip: float = 5.0
    epochs: int = 800  # adversarial epochs (TOTAL_BATCH)
    rollouts: int = 4
    delta: float = 16.0  # δ of the rescaled activation
    mle_every: int = 15  # an interleaved MLE epoch every this many adversarial epochs


@dataclass(frozen=True)
class LeakGANConfig:
    generator: LeakGeneratorConfig = field(default_factory=LeakGeneratorConfig)
    discriminator: CNNConfig = field(default_factory=lambda: CNNConfig(dropout=0.0))
    d_train: DiscTraining = field(default_factory=lambda: DiscTraining(rounds=5))
    training: LeakTraining = field(default_factory=LeakTraining)


class LeakGAN(AdversarialModel):
    """LeakGAN-lite: hierarchical manager/worker generator with features leaked from the CNN discriminator."""

    name = "leakgan"
    profiles: ClassVar[dict[str, LeakGANConfig]] = {
        "tiny": LeakGANConfig(
            LeakGeneratorConfig(emb_dim=16, hidden_dim=16, goal_size=4),
            dataclasses.replace(_TINY_CNN, dropout=0.0),
            DiscTraining(rounds=1, epochs=1, samples=256),
            LeakTraining(cycles=1, mle_epochs=1, epochs=2, rollouts=2),
        ),
        # ~2 CPU minutes: the 10x narrower CNN (F = 172), k = 4 and a few % of the paper's epochs; the
        # discriminator's rate is 10x the paper's as it gets ~0.02% of the paper's discriminator steps
        "small": LeakGANConfig(
            LeakGeneratorConfig(emb_dim=32, hidden_dim=32, goal_size=4),
            dataclasses.replace(_SMALL_CNN, dropout=0.0),
            DiscTraining(rounds=1, epochs=1, samples=1000, lr=1e-3),
            LeakTraining(cycles=2, mle_epochs=1, epochs=16, rollouts=4, mle_every=10),
        ),
        # Guo et al. 2018 and their code (CR-Gjx/LeakGAN, "Synthetic Data"/Main.py and LeakGANModel.py, length
        # 20): emb 32, hidden 32, goal size k = 16, step c = 4, batch 64, Adam lr 0.0015, clip 5; CNN as
        # SeqGAN's (emb 64, 1,720 filters, so F = 1,720) with keep probability 1.0 and L2 0.2; pre-training 10 x
        # (5 x (10,000 negatives, 3 epochs), then 8 MLE epochs); 800 adversarial epochs of one generator step
        # with 4 roll-outs, then 5 x (10,000 negatives, 3 epochs); rescale δ = 16; an MLE epoch every 15
        # adversarial epochs (the Image COCO Main.py; the paper's "interleaved training").
        "paper": LeakGANConfig(),
    }

    def __init__(self, config: LeakGANConfig, dataset: Dataset, device: torch.device) -> None:
        super().__init__(config, dataset, device)
        v = dataset.vocab
        self.disc = CNNDiscriminator(len(v), dataset.max_len, config.discriminator).to(device)
        gen = LeakGenerator(len(v), dataset.max_len, config.generator, self.disc.features, v.eos_id, v.pad_id)
        self.gen = gen.to(device)
        groups = self.gen.param_groups()
        tr = config.training
        self.mle_opt = adam([{"params": g} for g in groups], lr=tr.lr)
        self.adv_opt = adam([{"params": g} for g in groups], lr=tr.lr)
        self.d_opt = adam(self.disc.parameters(), lr=config.d_train.lr)

    def phases(self) -> list[Phase]:
        tr, d, name = self.config.training, self.config.d_train, self.name
        pretrain = [
            phase
            for c in range(tr.cycles)  # interleaved pre-training: discriminator rounds, then MLE epochs
            for phase in (
                DiscriminatorRounds(d, f"{name}-d-pretrain-{c}"),
                SupervisedEpochs(tr.mle_epochs, tr.batch_size, f"{name}-mle-pretrain-{c}"),
            )
        ]
        return [*pretrain, AdversarialEpochs(tr.epochs, 1, d, tr.mle_every, tr.batch_size)]

    def modules(self) -> dict[str, Any]:
        return {"discriminator": self.disc, "generator": self.gen, "mle_opt": self.mle_opt, "adv_opt": self.adv_opt,
                "d_opt": self.d_opt}  # fmt: skip

    @property
    def generator(self) -> LeakGenerator:
        return self.gen

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.disc.loss(real, fake)

    def discriminator_probe(self, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict[str, float]:
        return classifier_accuracy(self.disc.prob_real(real), self.disc.prob_real(fake))

    def _update(self, opt: Optimizer, loss: torch.Tensor, ctx: TrainContext, what: str) -> None:
        # the manager's and the worker's gradients are clipped separately, as their updates are
        clip, groups = self.config.training.grad_clip, self.gen.param_groups()
        optimise(loss, opt, step=ctx.steps, what=what, clip=clip, clip_groups=groups)

    def supervised_step(self, x: torch.Tensor, ctx: TrainContext) -> None:
        """MLE: the worker's NLL (goals held fixed) + the manager's goal loss with Q = 1."""
        out, mask = self.gen.teacher_forced(x, hold_goals=True), self.gen.mask(x)
        nll = policy_gradient_loss(token_log_probs(out, x), torch.ones(len(x)), mask)
        self._update(self.mle_opt, nll + manager_loss(out, self.config.generator.step_size, mask), ctx, "MLE loss")

    def adversarial_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        """One manager + worker update on a fresh batch (rewards from roll-outs at every window's end)."""
        tr, c = self.config.training, self.config.generator.step_size
        x = self.gen.sample(tr.batch_size, 1.0, derive_seed(ctx.seed, self.name, "g-batch", n)).to(self.device)
        check_collapse(x, ctx.steps)
        rng = torch.Generator(device=self.device).manual_seed(derive_seed(ctx.seed, self.name, "rollout", n))
        ends = window_ends(x.shape[1], c)
        with evaluating(self.gen):  # the generator itself completes the prefixes (no delayed copy in LeakGAN)
            q = rollout_rewards(self.gen, x, self.disc.reward(), tr.rollouts, 1.0, rng, ends)
        self.gen.train()
        x = trim_padding(x, self.gen.pad_id)  # the losses need only the columns some sentence still uses
        out, mask = self.gen.teacher_forced(x, hold_goals=True), self.gen.mask(x)
        worker = policy_gradient_loss(token_log_probs(out, x), intrinsic_rewards(out, c), mask)
        weights = rescale(q, tr.delta)[:, : len(window_ends(x.shape[1], c))]
        self._update(self.adv_opt, manager_loss(out, c, mask, weights) + worker, ctx, "generator loss")
        return {"reward": float(q.mean()), "reward_std": float(q.std())}

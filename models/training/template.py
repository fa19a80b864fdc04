"""The adversarial training template: the procedure around every GAN, so that a model file holds its algorithm.

A GAN subclasses ``AdversarialModel`` and declares

- ``phases()``: its schedule, a list of the phase types below (MLE pre-training, discriminator rounds,
  supervised epochs, adversarial epochs, adversarial steps), built from its config;
- ``modules()``: everything that is checkpointed (networks, optimisers, anything with ``state_dict``);
- the steps its phases call: ``adversarial_step`` (one generator update), ``discriminator_loss`` (the
  discriminator rounds' loss on a real and a generated batch) or ``discriminator_step`` (one discriminator
  update, for models that alternate single updates), ``supervised_step`` (one batch of its own supervised
  loss), and the optional hooks ``after_pretrain`` / ``after_generator_steps``.

The template owns ``fit``: it runs the phases in order; restores the checkpoint and resumes at any step (each
phase keeps its progress in a typed dataclass, saved with every checkpoint); keeps the elapsed time (per
phase too), the history and the log lines; checks every loss (``optimise``: a non-finite loss ends the run as
diverged); and builds the summary. Everything random is seeded from (run seed, model name, purpose, counter),
so a resumed run continues bit-for-bit on the CPU.

The history (``TrainSummary.history``, stored in the run's config.json and drawn by ``langgan-bench show``
and the report) has one entry per MLE epoch, discriminator pre-training round, supervised phase, adversarial
epoch or logged block of adversarial steps: its ``phase``, ``step`` (the run's optimiser-step counter) and
what was measured then. At every adversarial entry and discriminator round the template also *probes* the
networks on a fresh seeded batch (``ctx.probe_size`` generated and as many real sentences), without touching a
weight or the global random state: the generator's mean log-probability of its own samples
(``sample_log_prob``, minus an estimate of its per-token entropy), the share of distinct sentences among them
(``distinct``, a fall towards 0 is mode collapse) and, through the model's ``discriminator_probe``, the
discriminator's accuracy on real and generated sentences.

A complete minimal GAN on this template is in ``docs/adding_a_model.md``; MaliGAN (``models/maligan.py``) is a
short real one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from langgan_bench.core.config import derive_seed
from langgan_bench.datasets.base import Dataset, trim_padding
from langgan_bench.models.networks.generator import LSTMGenerator
from langgan_bench.models.training.base import Diverged, Model, TrainContext, TrainSummary, optimise
from langgan_bench.models.training.discriminator import DiscTraining, RoundsProgress, train_discriminator
from langgan_bench.models.training.mle import MLEProgress, MLETraining, train_mle
from langgan_bench.models.training.optim import Optimizer
from langgan_bench.models.training.pretrained import pretrain_key

State = Callable[[], dict[str, Any]]
PRETRAIN_SEED = "pretrain"  # seeds MLE pre-training's batch order: the same for every GAN (shared weights)
__all__ = ["AdversarialModel", "optimise"]  # optimise lives in base.py (MLE uses it too)


# --- the phases a model can declare --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pretrain:
    """MLE pre-training of the generator (``train_mle``: early stopping, the best epoch's weights kept)."""

    training: MLETraining
    label: str  # seeds the batch order; the run's log prefix


@dataclass(frozen=True)
class DiscriminatorRounds:
    """Rounds of fresh negatives against real sentences, trained with ``discriminator_loss``."""

    training: DiscTraining
    label: str


@dataclass(frozen=True)
class SupervisedEpochs:
    """Epochs over the training set in seeded order, one ``supervised_step`` per batch (LeakGAN's MLE)."""

    epochs: int
    batch_size: int
    label: str


@dataclass(frozen=True)
class AdversarialEpochs:
    """Epochs of ``g_steps`` generator updates (``adversarial_step``), then, every ``supervised_every``
    epochs, one supervised epoch, then discriminator rounds ``d_train``."""

    epochs: int
    g_steps: int
    d_train: DiscTraining
    supervised_every: int = 0  # 0: never
    supervised_batch_size: int = 64


@dataclass(frozen=True)
class AdversarialSteps:
    """Steps of one ``discriminator_step`` then one ``adversarial_step`` (ScratchGAN); means logged every
    ``log_every`` steps."""

    steps: int
    log_every: int


Phase = Pretrain | DiscriminatorRounds | SupervisedEpochs | AdversarialEpochs | AdversarialSteps


# --- progress, one typed dataclass per phase type (stored in checkpoints as plain dicts) ----------------------


@dataclass
class EpochsProgress:
    epoch: int = 0
    batch: int = 0


@dataclass
class AdversarialProgress:
    epoch: int = 0
    stage: str = "g"  # "g" (generator updates) -> "supervised" (when due) -> "d" (discriminator rounds)
    g_step: int = 0  # generator updates done in this epoch
    g_total: int = 0  # generator updates done in this phase (seeds each update's batch)
    sums: dict[str, float] = field(default_factory=dict)  # of each generator update's metrics in this epoch
    supervised: EpochsProgress = field(default_factory=EpochsProgress)
    d: RoundsProgress = field(default_factory=RoundsProgress)


@dataclass
class StepsProgress:
    step: int = 0
    sums: dict[str, float] = field(default_factory=dict)  # of each step's metrics since the last log line
    count: int = 0


@dataclass
class PretrainProgress:
    mle: MLEProgress = field(default_factory=MLEProgress)
    optim: dict[str, Any] | None = None  # train_mle's optimiser
    best: dict[str, torch.Tensor] | None = None  # the best epoch's weights
    key: str | None = None  # what determines the pre-trained weights (models/pretrained.py)


def _load_progress(phase: Phase, raw: dict[str, Any] | None) -> Any:
    if isinstance(phase, Pretrain):
        p = PretrainProgress(**raw) if raw else PretrainProgress()
        if raw:
            p.mle = MLEProgress(**raw["mle"])
        return p
    if isinstance(phase, DiscriminatorRounds):
        return RoundsProgress(**raw) if raw else RoundsProgress()
    if isinstance(phase, SupervisedEpochs):
        return EpochsProgress(**raw) if raw else EpochsProgress()
    if isinstance(phase, AdversarialEpochs):
        if not raw:
            return AdversarialProgress()
        raw = dict(raw)
        if "reward_sum" in raw:  # a checkpoint from before the history kept every metric
            raw["sums"] = {"reward": raw.pop("reward_sum")}
        return AdversarialProgress(
            **{**raw, "supervised": EpochsProgress(**raw["supervised"]), "d": RoundsProgress(**raw["d"])}
        )
    return StepsProgress(**raw) if raw else StepsProgress()


@dataclass
class _RunProgress:
    """Which phase the run is in and what it has recorded so far."""

    phase: int = 0
    progress: Any = None  # the current phase's progress dataclass
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    count: int = 0  # the last phase's epochs or steps (the summary's "epochs")
    pretrained: dict[str, Any] | None = None  # the pre-training's key, trained or reused
    phases: list[dict[str, Any]] = field(default_factory=list)  # the finished phases' records (TrainSummary)
    phase_started: float = 0.0  # the elapsed time when the current phase started
    phase_first_step: int = 0  # the step counter when the current phase started


class AdversarialModel(Model):
    """Base of every GAN: declares phases and steps; ``fit`` (here) runs them. See the module docstring."""

    name: ClassVar[str]
    #: the real sentences discriminators train against and supervised epochs read
    train_data: torch.Tensor
    #: the discriminator and its optimiser that ``DiscriminatorRounds`` train (set by models that have rounds)
    disc: nn.Module
    d_opt: Optimizer

    def __init__(self, config: Any, dataset: Dataset, device: torch.device) -> None:
        super().__init__(config, dataset, device)
        self.train_data = dataset.train

    # --- what a model declares -----------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def modules(self) -> dict[str, Any]:
        """Everything with a ``state_dict`` that a checkpoint must hold (networks, optimisers, baselines)."""
        raise NotImplementedError

    def adversarial_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        """The ``n``-th generator update of the phase; returns its metrics (``reward`` for epoch phases)."""
        raise NotImplementedError

    def discriminator_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        """The ``n``-th single discriminator update (``AdversarialSteps``); returns its metrics."""
        raise NotImplementedError

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The discriminator rounds' loss on a batch of real and of generated sentences."""
        raise NotImplementedError

    def supervised_step(self, x: torch.Tensor, ctx: TrainContext) -> None:
        """One update of the model's own supervised loss on the real batch ``x`` (``SupervisedEpochs``)."""
        raise NotImplementedError

    def discriminator_probe(self, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict[str, float]:
        """The discriminator's accuracy on ``real`` and ``fake`` sentences (on the model's device), for the
        history: ``classifier_accuracy`` or ``pair_accuracy`` (``training/discriminator.py``) of its scores,
        computed without gradients, in evaluation mode and without the global random state (``seed`` seeds
        anything else it needs). {} for a model whose discriminator has no such notion."""
        return {}

    def negatives(self, n: int, seed: int) -> torch.Tensor:
        """``n`` generated sentences for a discriminator round (on the CPU)."""
        return self.generator.sample(n, 1.0, seed)

    def after_pretrain(self) -> None:
        """Called once when MLE pre-training has ended (SeqGAN starts its roll-out network here)."""

    def after_generator_steps(self) -> None:
        """Called after the last generator update of each adversarial epoch, before the checkpoint."""

    # --- the procedure --------------------------------------------------------------------------------------
    def fit(self, dataset: Dataset, ctx: TrainContext) -> TrainSummary:
        self.train_data = dataset.train
        phases = self.phases()
        run = _RunProgress()
        resumed = ctx.restore()
        if resumed is not None:
            for k, m in self.modules().items():
                m.load_state_dict(resumed[k])
            raw = resumed["run"]
            run = _RunProgress(
                phase=raw["phase"],
                history=raw["history"],
                elapsed=raw["elapsed"],
                count=raw["count"],
                pretrained=raw.get("pretrained"),
                phases=raw.get("phases", []),
                phase_started=raw.get("phase_started", raw["elapsed"]),
                phase_first_step=raw.get("phase_first_step", ctx.steps),
            )
            if run.phase < len(phases):
                run.progress = _load_progress(phases[run.phase], raw["progress"])
        base, t0 = run.elapsed, time.monotonic()

        def now() -> float:
            run.elapsed = base + time.monotonic() - t0
            return run.elapsed

        def state() -> dict[str, Any]:
            now()
            # asdict converts (and copies) the phase's progress dataclass with the rest, once
            return {**{k: m.state_dict() for k, m in self.modules().items()}, "run": asdict(run)}

        try:
            while run.phase < len(phases):
                phase = phases[run.phase]
                if run.progress is None:
                    run.progress = _load_progress(phase, None)
                    run.phase_started, run.phase_first_step = now(), ctx.steps
                self._run_phase(phase, run, dataset, ctx, state)
                now()
                run.phases.append(self._phase_record(phase, run, ctx))
                run.phase, run.progress = run.phase + 1, None
                ctx.save(state())
        except Diverged as e:  # the curves of a diverged run show what led to it
            now()
            e.history = list(run.history)
            e.phases = [*run.phases, {**self._phase_record(phases[run.phase], run, ctx), "diverged": True}]
            raise
        valid = self.generator.nll(dataset.valid)
        ctx.log(f"{self.name}: validation NLL after adversarial training {valid:.4f}")
        now()
        return TrainSummary(
            run.count, ctx.steps, run.count, valid, run.elapsed, run.history, run.pretrained, run.phases
        )

    def _phase_record(self, phase: Phase, run: _RunProgress, ctx: TrainContext) -> dict[str, Any]:
        """What the summary keeps of a phase: its label, kind, wall time and step range."""
        kinds = {Pretrain: "mle", DiscriminatorRounds: "discriminator", SupervisedEpochs: "supervised"}
        kind = kinds.get(type(phase), "adversarial")
        if isinstance(phase, Pretrain):  # its label is the model's name (it seeds the shared pre-training)
            label = f"{phase.label}-mle-pretrain"
        else:
            label = getattr(phase, "label", f"{self.name}-{kind}")
        return {
            "phase": label,
            "kind": kind,
            "seconds": run.elapsed - run.phase_started,
            "first_step": run.phase_first_step,
            "last_step": ctx.steps,
        }

    @torch.no_grad()
    def probe(self, ctx: TrainContext, *key: object) -> dict[str, float]:
        """The history's measurements of the generator and the discriminator on fresh batches seeded by
        ``key`` (see the module docstring); nothing is updated and the global random state is left alone."""
        gen = self.generator
        seed = derive_seed(ctx.seed, self.name, "probe", *key)
        fake = gen.sample(ctx.probe_size, 1.0, seed)
        n = min(ctx.probe_size, len(self.train_data))
        pick = torch.Generator().manual_seed(derive_seed(ctx.seed, self.name, "probe-real", *key))
        real = self.train_data[torch.randperm(len(self.train_data), generator=pick)[:n]]
        out = {
            "sample_log_prob": -gen.nll(fake.to(self.device)),
            "distinct": len(torch.unique(fake, dim=0)) / max(len(fake), 1),
        }
        return {**out, **self.discriminator_probe(real.to(self.device), fake.to(self.device), seed)}

    def _run_phase(self, phase: Phase, run: _RunProgress, data: Dataset, ctx: TrainContext, state: State) -> None:
        started, name = time.monotonic(), self.name
        if isinstance(phase, Pretrain):
            self._pretrain(phase, run, data, ctx, state)
        elif isinstance(phase, DiscriminatorRounds):

            def on_round(r: int, loss: float) -> None:
                entry = {"phase": "discriminator", "round": r + 1, "step": ctx.steps, "d_loss": loss}
                run.history.append({**entry, **self.probe(ctx, phase.label, r)})

            loss = self._rounds(phase.training, run.progress, phase.label, ctx, state, on_round)
            ctx.log(f"{name} {phase.label}: discriminator loss {loss:.4f}  [{time.monotonic() - started:.1f}s]")
        elif isinstance(phase, SupervisedEpochs):
            self._supervised(phase.epochs, phase.batch_size, run.progress, phase.label, ctx, state)
            valid = self.generator.nll(data.valid)
            run.history.append({"phase": "supervised", "epoch": phase.epochs, "step": ctx.steps, "valid_nll": valid})
            ctx.log(
                f"{name} {phase.label}: {phase.epochs} supervised epochs, valid NLL {valid:.4f}  "
                f"[{time.monotonic() - started:.1f}s]"
            )
        elif isinstance(phase, AdversarialEpochs):
            self._adversarial_epochs(phase, run, ctx, state)
        else:
            self._adversarial_steps(phase, run, ctx, state)

    def _pretrain(self, phase: Pretrain, run: _RunProgress, data: Dataset, ctx: TrainContext, state: State) -> None:
        p: PretrainProgress = run.progress
        generator = self.generator
        assert isinstance(generator, LSTMGenerator)
        if p.optim is None and p.key is None:  # the phase starts here (not resumed inside it)
            # its dropout masks and batch order depend on the seed alone, not on the model around the
            # generator: every GAN with this generator, data and settings pre-trains to the same weights
            torch.manual_seed(derive_seed(ctx.seed, PRETRAIN_SEED))
            p.key = pretrain_key(generator, data, phase.training, ctx.seed, ctx.device)
        store = ctx.pretrained if p.key is not None else None

        def train() -> dict[str, Any]:
            part = None if p.optim is None else {"progress": p.mle, "optim": p.optim, "best": p.best}

            def snapshot(ph: dict[str, Any]) -> dict[str, Any]:
                p.mle, p.optim, p.best = ph["progress"], ph["optim"], ph["best"]
                return state()

            ps = train_mle(generator, data, phase.training, ctx, part, snapshot, phase.label, PRETRAIN_SEED)
            return {"weights": {k: v.detach().cpu() for k, v in generator.state_dict().items()}, "progress": asdict(ps)}

        if store is not None and p.optim is None:  # under the key's lock: another run's, or trained and stored
            entry, reused = store.load_or_train(p.key, train)
        else:  # no store, or resumed inside the phase (a checkpoint holds its progress): this run trains it
            entry, reused = train(), False
            if store is not None:
                store.put(p.key, entry)
        ps = MLEProgress(**entry["progress"])
        if reused:
            generator.load_state_dict(entry["weights"])
            ctx.steps += ps.steps
            ctx.log(f"{self.name}: reusing the generator pre-trained with the same settings ({p.key})")
        run.pretrained = {"key": p.key, "reused": reused, "trained_seconds": ps.elapsed}
        first = run.phase_first_step  # the history's steps count the run's updates, not the phase's
        run.history += [dict(h, phase="mle", step=first + h["step"]) if "step" in h else dict(h, phase="mle")
                        for h in ps.history]  # fmt: skip
        torch.manual_seed(derive_seed(ctx.seed, self.name, "after-pretrain"))  # the same whether trained or reused
        self.after_pretrain()

    def _rounds(
        self,
        cfg: DiscTraining,
        prog: RoundsProgress,
        label: str,
        ctx: TrainContext,
        state: State,
        on_round: Callable[[int, float], None] | None = None,
    ) -> float:
        return train_discriminator(
            self.discriminator_loss, self.d_opt, self.disc, self.negatives, self.train_data, cfg,
            prog, ctx, state, label, on_round,
        )  # fmt: skip

    def _supervised(
        self, epochs: int, batch_size: int, prog: EpochsProgress, label: str, ctx: TrainContext, state: State
    ) -> None:
        generator = self.generator
        assert isinstance(generator, nn.Module)
        while prog.epoch < epochs:
            g = torch.Generator().manual_seed(derive_seed(ctx.seed, label, prog.epoch))
            batches = torch.randperm(len(self.train_data), generator=g).split(batch_size)
            generator.train()
            for b in range(prog.batch, len(batches)):
                x = trim_padding(self.train_data[batches[b]], generator.pad_id).to(self.device)
                self.supervised_step(x, ctx)
                prog.batch = b + 1
                ctx.step_done(state)
            prog.epoch, prog.batch = prog.epoch + 1, 0

    def _adversarial_epochs(self, phase: AdversarialEpochs, run: _RunProgress, ctx: TrainContext, state: State) -> None:
        p: AdversarialProgress = run.progress
        while p.epoch < phase.epochs:
            e, started = p.epoch, time.monotonic()
            if p.stage == "g":
                while p.g_step < phase.g_steps:
                    metrics = self.adversarial_step(ctx, p.g_total)
                    p.g_step, p.g_total = p.g_step + 1, p.g_total + 1
                    p.sums = {k: p.sums.get(k, 0.0) + v for k, v in metrics.items()}
                    if p.g_step == phase.g_steps:
                        self.after_generator_steps()
                        due = phase.supervised_every and (e + 1) % phase.supervised_every == 0
                        p.stage = "supervised" if due else "d"
                    ctx.step_done(state)
            if p.stage == "supervised":
                label = f"{self.name}-mle-adv-{e}"
                self._supervised(1, phase.supervised_batch_size, p.supervised, label, ctx, state)
                p.stage, p.supervised = "d", EpochsProgress()
            d_loss = self._rounds(phase.d_train, p.d, f"{self.name}-d-adv-{e}", ctx, state)
            means = {k: v / phase.g_steps for k, v in p.sums.items()}
            reward = means.get("reward", math.nan)
            entry = {"phase": "adversarial", "epoch": e + 1, "step": ctx.steps, **means, "d_loss": d_loss}
            run.history.append({**entry, **self.probe(ctx, "adversarial", e)})
            ctx.log(
                f"{self.name} adversarial epoch {e + 1}/{phase.epochs}: mean reward {reward:.4f}  D loss "
                f"{d_loss:.4f}  [{time.monotonic() - started:.1f}s]"
            )
            run.progress = p = AdversarialProgress(epoch=e + 1, g_total=p.g_total)
            run.count = p.epoch
            ctx.save(state())

    def _adversarial_steps(self, phase: AdversarialSteps, run: _RunProgress, ctx: TrainContext, state: State) -> None:
        p: StepsProgress = run.progress
        started = time.monotonic()
        while p.step < phase.steps:
            metrics = {**self.discriminator_step(ctx, p.step), **self.adversarial_step(ctx, p.step)}
            p.sums = {k: p.sums.get(k, 0.0) + v for k, v in metrics.items()}
            p.step, p.count = p.step + 1, p.count + 1
            if p.step % phase.log_every == 0 or p.step == phase.steps:
                means = {k: v / p.count for k, v in p.sums.items()}
                # step: the run's counter once this update is counted (step_done below)
                entry = {"phase": "adversarial", "phase_step": p.step, "step": ctx.steps + 1, **means}
                run.history.append({**entry, **self.probe(ctx, "steps", p.step)})
                shown = "  ".join(f"{k} {v:.4f}" for k, v in means.items())
                ctx.log(f"{self.name} step {p.step}/{phase.steps}: {shown}  [{time.monotonic() - started:.1f}s]")
                p.sums, p.count, started = {}, 0, time.monotonic()
            run.count = p.step
            ctx.step_done(state)

"""The contract every model must meet, as checks a test can call: the suite runs them for every registered
model, and the author of a model outside the repo runs them in their own tests::

    from langgan_bench.testing import check_model
    from my_package.my_gan import MyGAN

    def test_my_gan_meets_the_contract():
        check_model(MyGAN)  # a few seconds on a CPU with the model's "tiny" profile

Each check raises ``AssertionError`` with a message that says what broke. ``toy_dataset()`` is the small
text-like dataset they train on (a toy grammar with EOS and padding, so the text code paths are exercised).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from langgan_bench.datasets.base import Dataset, Vocab, sequence_mask
from langgan_bench.models.training.base import Diverged, Model, TrainContext

CPU = torch.device("cpu")
WORDS = ("<pad>", "<eos>", "<unk>", "a", "the", "cat", "dog", "man", "sat", "ran", "on", "by", "mat", "road", "red")


def _sentence(g: torch.Generator) -> list[int]:
    def one(*options: str) -> int:
        return WORDS.index(options[int(torch.randint(len(options), (1,), generator=g))])

    s = [one("a", "the"), one("cat", "dog", "man"), one("sat", "ran")]
    if torch.rand(1, generator=g) < 0.6:
        s += [one("on", "by"), one("a", "the")] + ([one("red")] if torch.rand(1, generator=g) < 0.3 else [])
        s += [one("mat", "road")]
    return [*s, 1]


def toy_dataset(n: int = 400, max_len: int = 10, seed: int = 0) -> Dataset:
    """``n`` training sentences of a toy grammar ("the cat sat on a red mat <eos>"), padded to ``max_len``."""
    g = torch.Generator().manual_seed(seed)

    def split(m: int) -> torch.Tensor:
        x = torch.zeros(m, max_len, dtype=torch.long)
        for i in range(m):
            s = _sentence(g)
            x[i, : len(s)] = torch.tensor(s)
        return x

    return Dataset(
        name="toytext",
        description="a toy grammar",
        vocab=Vocab(WORDS, pad_id=0, eos_id=1, unk_id=2),
        train=split(n),
        valid=split(n // 4),
        test=split(n // 4),
        max_len=max_len,
        content_hash="0" * 64,
        tokenizer="whitespace",
    )


def build(cls: type[Model], ds: Dataset, config: Any = None, seed: int = 0) -> Model:
    """``cls`` with its tiny config (or ``config``), its initial weights drawn from ``seed``."""
    torch.manual_seed(seed)
    return cls(config if config is not None else cls.config_for("tiny"), ds, CPU)


def weights(model: Model) -> dict[str, torch.Tensor]:
    """Every tensor of every network a model checkpoints (its generator at least)."""
    out = {f"generator.{k}": v for k, v in model.generator.state_dict().items()}
    modules = getattr(model, "modules", None)
    for name, m in (modules() if callable(modules) else {}).items():
        if isinstance(m, torch.nn.Module):
            out.update({f"{name}.{k}": v for k, v in m.state_dict().items()})
    return out


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in a if not torch.equal(a[k], b[k])]


class _Crash(Exception):
    pass


@dataclasses.dataclass
class _Context(TrainContext):
    """Checkpoints after every step; 'dies' right after the checkpoint of step ``crash_at``, or calls
    ``poison(step)`` after every step."""

    crash_at: int = -1
    poison: Callable[[int], None] | None = None
    ran: int = 0  # the steps this fit took itself (a resumed one: those after its checkpoint's)

    def step_done(self, make_state: Callable[[], dict[str, Any]]) -> None:
        super().step_done(make_state)
        self.ran += 1
        if self.steps == self.crash_at:
            raise _Crash
        if self.poison is not None:
            self.poison(self.steps)


def _ctx(**kw: Any) -> _Context:
    return _Context(device=CPU, seed=0, log=lambda m: None, **kw)


def check_generator(model: Model, ds: Dataset) -> None:
    """The Generator contract of a trained model: samples of the right shape and vocabulary, nothing but
    padding after EOS, the same seed the same samples at every temperature (T = 0 greedy), finite per-token
    log-probabilities (0 past the end), an NLL that scoring does not change; and every decoder
    (``check_decoders``)."""
    gen = model.generator
    for t in (0.0, 0.7, 1.0, 1.5):
        s = gen.sample(64, t, seed=5)
        assert s.shape == (64, ds.max_len) and s.dtype == torch.long, f"sample shape {tuple(s.shape)} at T={t}"
        assert ((s >= 0) & (s < len(ds.vocab))).all(), f"token ids outside the vocabulary at T={t}"
        mask = sequence_mask(s, ds.vocab.eos_id)
        assert (s[mask] != ds.vocab.pad_id).all(), f"padding inside a sentence at T={t}"
        assert (s[~mask] == ds.vocab.pad_id).all(), f"words after EOS at T={t}"
        assert torch.equal(s, gen.sample(64, t, seed=5)), f"the same seed gave other samples at T={t}"
    lp = gen.log_prob(ds.test[:20])
    assert lp.shape == ds.test[:20].shape and torch.isfinite(lp).all(), "log_prob: wrong shape or not finite"
    assert (lp[~sequence_mask(ds.test[:20], ds.vocab.eos_id)] == 0).all(), "log_prob: non-zero past the end"
    nll = gen.nll(ds.test)
    assert 0 < nll < math.log(len(ds.vocab)) * 3 and nll == gen.nll(ds.test), f"nll {nll}: implausible or unstable"
    check_decoders(model, ds)


#: A knob of every decoder but disc_reject (whose discriminator the harness trains): the contract's checks
DECODER_CHECKS = (("top_k", 3.0), ("top_p", 0.8), ("beam", 2.0), ("gen_reject", -50.0))


def check_decoders(model: Model, ds: Dataset) -> None:
    """Every decoder reaches the model's generator through the shared contract (``sample``, ``log_prob``, and
    ``step`` / ``keep_rows`` for the token-level ones): valid samples, the same seed the same samples."""
    from langgan_bench.core.errors import UserError
    from langgan_bench.models.networks.decoding import decode

    gen = model.generator
    for decoder, knob in DECODER_CHECKS:
        try:
            s = decode(gen, decoder, knob, 32, seed=5).samples
        except UserError as e:
            raise AssertionError(f"decoder {decoder}: {e}") from None
        assert s.shape == (32, ds.max_len), f"decoder {decoder}: sample shape {tuple(s.shape)}"
        mask = sequence_mask(s, ds.vocab.eos_id)
        valid = ((s >= 0) & (s < len(ds.vocab))).all() and (s[~mask] == ds.vocab.pad_id).all()
        assert valid and (s[mask] != ds.vocab.pad_id).all(), f"decoder {decoder}: invalid samples"
        assert torch.equal(s, decode(gen, decoder, knob, 32, seed=5).samples), f"decoder {decoder}: not seeded"


def check_determinism(cls: type[Model], ds: Dataset, config: Any = None) -> tuple[Model, int]:
    """Two fits with the same seed give bit-identical weights; returns the first model and its step count."""
    a, ctx = build(cls, ds, config), _ctx()
    summary = a.fit(ds, ctx)
    b = build(cls, ds, config)  # seeded right before its fit, as the runner does
    b.fit(ds, _ctx())
    assert summary.steps == ctx.steps > 0, "the summary's steps are not the steps taken"
    differ = _same(weights(a), weights(b))
    assert not differ, f"same seed, different weights: {differ[:3]}"
    return a, summary.steps


def check_resume(
    cls: type[Model],
    ds: Dataset,
    tmp: Path,
    config: Any = None,
    points: int = 3,
    reference: tuple[Model, int] | None = None,
) -> None:
    """A fit killed right after the checkpoint of a step, resumed from that checkpoint and killed again later, at
    ``points`` places spread over the whole run (the last one the step before the end), and resumed once more,
    ends with the weights of an uninterrupted fit. One chain, one fit's worth of steps in all: every resume, from
    a fresh fit's checkpoint and from a resumed one's, must go on exactly where its checkpoint left off, or the
    final weights differ. ``reference``: such a fit and its step count (``check_determinism``'s), so that it is
    not trained again here."""
    if reference is None:
        full = build(cls, ds, config)
        reference = full, full.fit(ds, _ctx()).steps
    full, total = reference
    crashes = sorted({max(1, total * i // points) for i in range(1, points)} | {total - 1})
    path = tmp / f"resume-{cls.name}.pt"
    ran = 0
    for i, crash_at in enumerate(crashes):
        ctx = _ctx(checkpoint_path=path, checkpoint_every_s=0.0, crash_at=crash_at, resume=i > 0)
        try:
            build(cls, ds, config).fit(ds, ctx)
            raise AssertionError(f"the fit ended before step {crash_at} of {total}")
        except _Crash:
            ran += ctx.ran
    model = build(cls, ds, config)
    ctx = _ctx(checkpoint_path=path, checkpoint_every_s=0.0, resume=True)
    model.fit(ds, ctx)
    where = ", ".join(map(str, crashes))
    assert ctx.steps == total, f"resumed after steps {where}: {ctx.steps} steps in all, not {total}"
    # a resume that started over would end with the same weights; it would take more steps
    assert ran + ctx.ran == total, f"resumed after steps {where}: {ran + ctx.ran} steps taken, not {total}"
    differ = _same(weights(full), weights(model))
    assert not differ, f"resumed after steps {where} of {total}: weights differ ({differ[:3]})"


def check_divergence(cls: type[Model], ds: Dataset, config: Any = None) -> None:
    """Weights that turn non-finite mid-run end the fit with ``Diverged`` (which the runner records as a
    diverged run), not with a crash or a NaN model."""

    def poison(step: int) -> None:
        if step == 2:
            with torch.no_grad():
                for p in model.generator.parameters():
                    p.fill_(float("nan"))

    model = build(cls, ds, config)
    try:
        model.fit(ds, _ctx(poison=poison))
    except Diverged as e:
        assert e.step >= 2 and e.reason, f"Diverged at step {e.step}: {e.reason!r}"
        return
    raise AssertionError("a NaN generator trained on without raising Diverged")


def check_model(cls: type[Model], tmp: Path | None = None, config: Any = None) -> None:
    """Every check above on ``cls`` with its tiny profile (or ``config``) on ``toy_dataset()``."""
    import tempfile

    assert isinstance(getattr(cls, "name", None), str) and cls.name, "a model needs a `name`"
    assert "tiny" in cls.profiles or config is not None, "a model needs a 'tiny' profile (or pass config=)"
    cfg = config if config is not None else cls.config_for("tiny")
    assert dataclasses.is_dataclass(cfg) and cfg.__dataclass_params__.frozen, "configs are frozen dataclasses"
    ds = toy_dataset(200)
    fitted = check_determinism(cls, ds, cfg)
    check_generator(fitted[0], ds)
    check_divergence(cls, ds, cfg)
    with tempfile.TemporaryDirectory() as d:
        check_resume(cls, ds, Path(tmp or d), cfg, reference=fitted)

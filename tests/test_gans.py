"""The GANs: every registered one end to end through the CLI (oracle and a COCO slice), a kill in the
adversarial phase, the policy-gradient reward paths, the discriminators, batched vs per-prefix roll-outs,
RelGAN's relaxed samples and MaliGAN's weights, and divergence. The contract checks every model meets
(determinism, resume at any step, the Generator contract) are in test_contract.py."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import signal

import pytest
import torch

from langgan_bench.core.profiles import PROFILES
from langgan_bench.datasets.base import Dataset, sequence_mask
from langgan_bench.kernels import windows
from langgan_bench.models import MODELS
from langgan_bench.models.leakgan import LeakGenerator
from langgan_bench.models.networks.discriminators import (
    CNNConfig,
    CNNDiscriminator,
    CNNFeatures,
    CNNRanker,
    LSTMDiscConfig,
    LSTMDiscriminator,
)
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator, nll_from_logits
from langgan_bench.models.training import optim
from langgan_bench.models.training.base import Diverged, TrainContext
from langgan_bench.models.training.policy_gradient import (
    MovingAverageBaseline,
    dense_rewards,
    discounted_returns,
    policy_gradient_loss,
)
from langgan_bench.models.training.rollout import LSTMPolicy, rollout_rewards, rollout_rewards_loop
from langgan_bench.models.training.template import AdversarialModel
from langgan_bench.testing import WORDS, toy_dataset

from .conftest import cli, cli_here, rows_of
from .crash_site.sitecustomize import crash_env
from .plugin_model import QUICK_MLE
from .test_generator import sample_every_row

# every registered GAN (a new one is tested by registering it); tests/test_contract.py has the contract checks
GANS = tuple(n for n in MODELS.names() if issubclass(MODELS.get(n), AdversarialModel))
# one point of the sweep: greedy decoding of every model is the contract's (testing.check_generator)
TINY = ("run", "--dataset", "oracle", "--profile", "tiny", "--temperatures", "1")
CPU = torch.device("cpu")


def values(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return sorted((r["model"], r["temperature"], r["metric"], r["value"]) for r in rows)


text_dataset = toy_dataset


def shrink(name: str, **changes: dict[str, object]):
    """The tiny profile of a GAN with some groups' fields replaced (e.g. fewer epochs for quick tests)."""
    cfg = MODELS.get(name).config_for("tiny")
    for group, fields in changes.items():
        cfg = dataclasses.replace(cfg, **{group: dataclasses.replace(getattr(cfg, group), **fields)})
    return cfg


QUICK = {  # a few seconds each on a 400-sentence dataset
    "seqgan": dict(adversarial=dict(epochs=1), d_train=dict(samples=64)),
    "rankgan": dict(adversarial=dict(epochs=1), d_train=dict(samples=64)),
    "leakgan": dict(training=dict(epochs=1, mle_every=1), d_train=dict(lr=1e-2, samples=128)),
    "scratchgan": dict(training=dict(steps=6, batch_size=64)),
    "maligan": dict(adversarial=dict(epochs=1)),
    "relgan": dict(training=dict(steps=4)),
}


TINY_PROBE = PROFILES.get("tiny").probe_samples  # the history's probes, as a tiny run takes them


def fit(name: str, ds: Dataset, cfg=None, seed: int = 0):
    torch.manual_seed(seed)
    cls = MODELS.get(name)
    model = cls(cfg or shrink(name, **QUICK[name]), ds, CPU)
    summary = model.fit(ds, TrainContext(device=CPU, seed=seed, log=lambda m: None, probe_size=TINY_PROBE))
    return model, summary


def assert_valid_samples(s: torch.Tensor, ds: Dataset) -> None:
    assert s.shape[1] == ds.max_len and s.dtype == torch.long
    assert ((s >= 0) & (s < len(ds.vocab))).all()
    mask = sequence_mask(s, ds.vocab.eos_id)
    assert (s[mask] != ds.vocab.pad_id).all()  # no padding inside a sentence
    assert (s[~mask] == ds.vocab.pad_id).all()  # and only padding after its EOS


# --- end to end ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Every GAN's tiny run on the oracle through one ``bench`` command, as ``make bench`` runs its cells (in
    this process: the killed run below is another one)."""
    out, probes = tmp_path_factory.mktemp("gans"), []
    args = ("--datasets", "oracle", "--profile", "tiny", "--temperatures", "1", "--seeds", "0", "--executor", "local")
    probe = AdversarialModel.probe

    def counted(self, ctx, *key):
        probes.append((self.name, ctx.probe_size))
        return probe(self, ctx, *key)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(AdversarialModel, "probe", counted)
        proc = cli_here("bench", "--models", ",".join(GANS), *args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc, probes


def run_dir_of(out, name: str):
    (path,) = (out / "runs").glob(f"oracle-{name}-tiny-s0-*")
    return path


def rows_of_model(out, name: str) -> list[dict[str, str]]:
    """The rows of ``name``'s run (its own and the oracle's reference rows)."""
    run_id = run_dir_of(out, name).name
    return [r for r in rows_of(out) if r["run_id"] == run_id]


@pytest.mark.parametrize("name", GANS)
def test_tiny_run_end_to_end(tiny_runs, name):
    out, proc, _ = tiny_runs
    run_dir = run_dir_of(out, name)
    by = {(r["model"], float(r["temperature"]), r["metric"]): float(r["value"]) for r in rows_of_model(out, name)}
    assert (name, 1.0, "nll_oracle") in by and (name, 1.0, "nll_test") in by
    assert by[(name, 1.0, "nll_test")] > by[("oracle", 1.0, "nll_test")]  # nothing beats the data's own model
    config = json.loads((run_dir / "config.json").read_text())
    assert config["status"] == "complete" and config["training"]["steps"] > 0
    assert f"{name} adversarial" in proc.stderr or f"{name} step" in proc.stderr


def test_gans_that_pretrain_alike_share_one_pretraining(tiny_runs):
    """SeqGAN, RankGAN, MaliGAN and RelGAN pre-train the same tiny generator: one trains it (the others wait
    on its lock if they run beside it), the others reuse it, and each records which in config.json (that a
    reused pre-training gives the weights of a trained one: tests/test_pretrained.py)."""
    out, _, _ = tiny_runs
    records = {}
    for name in ("seqgan", "rankgan", "maligan", "relgan"):
        run_dir = run_dir_of(out, name)
        records[name] = json.loads((run_dir / "config.json").read_text())["training"]["pretrained"]
    assert len({r["key"] for r in records.values()}) == 1, records
    assert sum(r["reused"] for r in records.values()) >= 3, records


@pytest.mark.parametrize("name", GANS)
def test_a_run_stores_its_training_history_and_phase_times(tiny_runs, name):
    """What `show` and the report draw (models/training/template.py): entries placed on the run's step
    counter, phases that tile the run, the probe's measurements in range, D's accuracy where D classifies."""
    out, _, _ = tiny_runs
    training = json.loads((run_dir_of(out, name) / "config.json").read_text())["training"]
    history, phases = training["history"], training["phases"]
    steps = [h["step"] for h in history]
    assert steps == sorted(steps) and 0 < steps[-1] <= training["steps"]
    assert phases[0]["first_step"] == 0 and phases[-1]["last_step"] == training["steps"]
    assert all(a["last_step"] == b["first_step"] for a, b in itertools.pairwise(phases))
    assert all(p["seconds"] >= 0 for p in phases) and phases[-1]["kind"] == "adversarial"
    assert sum(p["seconds"] for p in phases) <= training["train_seconds"] + 1e-6
    adversarial = [h for h in history if h["phase"] == "adversarial"]
    assert adversarial and all(-20 < h["sample_log_prob"] < 0 and 0 < h["distinct"] <= 1 for h in adversarial)
    accuracy = {"rankgan": {"d_acc_pairs"}, "relgan": {"d_acc_pairs"}}.get(name, {"d_acc_real", "d_acc_fake"})
    assert all(accuracy <= h.keys() and all(0 <= h[k] <= 1 for k in accuracy) for h in adversarial)
    if name != "relgan":  # RelGAN's generator gets the critic's gradient, not a reward
        assert all("reward" in h and h["reward_std"] >= 0 for h in adversarial)
    if name != "scratchgan":  # the others pre-train by MLE (LeakGAN after a discriminator round)
        first = next(h for h in history if "valid_nll" in h)
        assert first["phase"] in ("mle", "supervised") and first["step"] > 0


def test_the_history_probes_as_many_sentences_as_the_profile_says(tiny_runs, monkeypatch):
    """The runner gives the template its profile's ``probe_samples`` (recorded with the run's profile); a probe
    draws that many sentences."""
    out, _, probes = tiny_runs
    assert {name for name, _ in probes} == set(GANS) and {size for _, size in probes} == {TINY_PROBE} == {64}
    assert json.loads((run_dir_of(out, "seqgan") / "config.json").read_text())["profile"]["probe_samples"] == 64
    model = MODELS.get("maligan")(shrink("maligan", **QUICK["maligan"]), text_dataset(200), CPU)
    sample, drawn = model.gen.sample, []
    monkeypatch.setattr(model.gen, "sample", lambda n, t=1.0, seed=0: drawn.append(n) or sample(n, t, seed))
    model.probe(TrainContext(device=CPU, seed=0, log=lambda m: None, probe_size=24), "test", 0)
    assert drawn == [24]


@pytest.mark.parametrize("name", ["seqgan"])
def test_resume_after_a_kill_in_the_adversarial_phase(tiny_runs, name, tmp_path):
    out, _, _ = tiny_runs
    steps = json.loads((run_dir_of(out, name) / "config.json").read_text())["training"]["steps"]
    # three steps before the end: inside the last epoch's discriminator rounds, after its generator step
    env = crash_env(steps - 3)  # the thread count of this process, as the reference ran and the resume runs
    killed = cli(*TINY, "--model", name, "--out", str(tmp_path), "--checkpoint-every", "0", env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "adversarial epoch 2/2" not in killed.stderr and "adversarial epoch 1/2" in killed.stderr
    assert not rows_of(tmp_path)
    resumed = cli_here(*TINY, "--model", name, "--out", str(tmp_path), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "adversarial epoch 1/2" not in resumed.stderr and "adversarial epoch 2/2" in resumed.stderr
    assert values(rows_of(tmp_path)) == values(rows_of_model(out, name))


def test_leakgan_steps_compute_the_teacher_forced_distribution():
    ds = text_dataset(40)
    torch.manual_seed(0)
    cnn = CNNDiscriminator(len(WORDS), ds.max_len, CNNConfig(emb_dim=8, num_filters=(4,) * 12))
    cfg = MODELS.get("leakgan").config_for("tiny").generator
    gen = LeakGenerator(len(WORDS), ds.max_len, dataclasses.replace(cfg, step_size=3), cnn.features, 1, 0).eval()
    x = gen.sample(6, 1.0, seed=2)
    with torch.no_grad():
        teacher = gen(x)
        state, prev, steps = None, torch.full((6,), gen.bos_id), []
        for p in range(ds.max_len):
            logits, state = gen.step(prev, state)
            steps.append(logits)
            prev = x[:, p]
    torch.testing.assert_close(torch.stack(steps, dim=1), teacher, rtol=1e-4, atol=1e-4)
    # ended sentences leave the sampling batch with their state (keep_rows): the same samples
    for t in (0.7, 1.5):
        assert torch.equal(gen.sample(200, t, seed=3), sample_every_row(gen, 200, t, seed=3))
    # scoring sentences whose trailing padding was cut off gives the same numbers (the CNN still sees max_len)
    real = ds.test[:6]
    width = int(sequence_mask(real, 1).sum(1).max())
    assert width < ds.max_len
    torch.testing.assert_close(gen.log_prob(real[:, :width]), gen.log_prob(real)[:, :width])
    # NLL at several temperatures from one forward pass per chunk (the sweep's NLL_test) equals the plain
    # path, log_prob summed one temperature at a time (float64 sums of the same float32 rows)
    temps = [0.5, 1.0, 2.0]
    many = gen.nll_many(ds.test, temps, batch_size=7)
    for t, v in zip(temps, many, strict=True):
        assert v == pytest.approx(nll_from_logits(gen, ds.test, t, batch_size=7), rel=1e-9)
        assert gen.nll(ds.test, t, batch_size=7) == v
    assert len(set(many)) == 3


def test_cnn_features_of_every_prefix_at_once():
    """``CNNFeatures.all_prefixes`` (each tap applied once, windows as running sums of their taps plus a blank
    tail) equals the full forward of every prefix, for sentences as wide as the CNN and trimmed ones."""
    torch.manual_seed(0)
    length = 12
    cnn = CNNFeatures(30, length, CNNConfig(emb_dim=6, filter_sizes=(1, 2, 3, 5, 12), num_filters=(3, 4, 2, 3, 2)))
    for width in (length, 9, 1):
        x = torch.randint(0, 30, (7, width))
        wide = torch.nn.functional.pad(x, (0, length - width), value=cnn.blank_id)
        each = [cnn(torch.where(torch.arange(length) < t, wide, cnn.blank_id)) for t in range(width + 1)]
        got = cnn.all_prefixes(x)
        assert got.shape == (7, width + 1, cnn.dim) and not got.requires_grad
        torch.testing.assert_close(got, torch.stack(each, dim=1), rtol=1e-5, atol=1e-6)


def test_cnn_features_of_a_growing_prefix_step_by_step():
    """``CNNFeatures.prefix_step`` (each new word through every tap once, finished windows as a running
    maximum, open ones as running tap sums, blank ones as one value) equals the full forward at every prefix
    length, for rows at one position and for rows at different positions (which replay the positions)."""
    torch.manual_seed(0)
    length = 12
    cnn = CNNFeatures(30, length, CNNConfig(emb_dim=6, filter_sizes=(1, 2, 3, 5, 12), num_filters=(3, 4, 2, 3, 2)))
    x = torch.randint(0, 30, (7, length))
    state, states = torch.zeros(7, cnn.step_state_size), []
    for p in range(length + 1):
        prefix = torch.where(torch.arange(length) < p, x, cnn.blank_id)
        feats, state = cnn.prefix_step(prefix, torch.full((7,), p), state)
        states.append(state)
        torch.testing.assert_close(feats, cnn(prefix), rtol=1e-5, atol=1e-6)
    # rows at different positions: the same features, and the same state handed on
    written = torch.tensor([0, 1, 3, 5, 8, 11, 12])
    prefix = torch.where(torch.arange(length) < written[:, None], x, cnn.blank_id)
    feats, after = cnn.prefix_step(prefix, written, torch.zeros(7, cnn.step_state_size))
    torch.testing.assert_close(feats, cnn(prefix), rtol=1e-5, atol=1e-6)
    for i, p in enumerate(written.tolist()):
        torch.testing.assert_close(after[i], states[p][i], rtol=1e-5, atol=1e-6)


# --- policy gradient: every reward path raises the favoured token -----------------------------------------
FAVOURED = 5


def _policy(seed: int = 0) -> LSTMGenerator:
    torch.manual_seed(seed)
    return LSTMGenerator(8, 6, GeneratorConfig(emb_dim=8, hidden_dim=16), eos_id=1, pad_id=0)


def _share(gen: LSTMGenerator) -> float:
    s = gen.sample(2000, 1.0, seed=99)
    return float((s[sequence_mask(s, 1)] == FAVOURED).double().mean())


def _train(gen: LSTMGenerator, rewards_of, steps: int = 15) -> None:
    opt = optim.Adam(gen.parameters(), lr=0.02)
    for i in range(steps):
        x = gen.sample(64, 1.0, seed=i)
        rewards, baseline = rewards_of(x, i)
        loss = policy_gradient_loss(gen.log_prob(x), rewards, gen.mask(x), baseline)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _fraction_favoured(tokens: torch.Tensor) -> torch.Tensor:
    mask = sequence_mask(tokens, 1)
    return ((tokens == FAVOURED) & mask).sum(1) / mask.sum(1)


def test_rollout_rewards_raise_the_favoured_token():
    gen = _policy()
    before = _share(gen)
    _train(gen, lambda x, i: (rollout_rewards(LSTMPolicy(gen), x, _fraction_favoured, 4, 1.0, _rng(i)), None))
    assert _share(gen) > before + 0.3, (before, _share(gen))


def test_rank_rewards_raise_the_favoured_token():
    torch.manual_seed(0)
    ranker = CNNRanker(8, 6, CNNConfig(emb_dim=8, filter_sizes=(1, 2), num_filters=(16, 16), dropout=0.0), 10.0)
    real = torch.full((32, 6), FAVOURED)  # human sentences: the favoured token everywhere
    gen = _policy()
    before = _share(gen)

    def rewards(x: torch.Tensor, i: int):
        score = lambda s: ranker.rank_score(s, real[:16], real[16:])  # noqa: E731
        return rollout_rewards(LSTMPolicy(gen), x, score, 4, 1.0, _rng(i)), None

    _train(gen, rewards)
    assert _share(gen) > before + 0.3, (before, _share(gen))


def test_dense_discounted_rewards_raise_the_favoured_token():
    gen = _policy()
    before = _share(gen)
    baseline = MovingAverageBaseline(0.08)

    def rewards(x: torch.Tensor, i: int):
        mask = gen.mask(x)
        prob_real = (x == FAVOURED).float()  # a per-step discriminator that loves the favoured token
        returns = discounted_returns(dense_rewards(prob_real, mask), 0.23)
        return returns, baseline.update(returns, mask)

    _train(gen, rewards)
    assert _share(gen) > before + 0.3, (before, _share(gen))


def test_discounted_returns_and_baseline_by_hand():
    r = torch.tensor([[1.0, 0.0, -1.0, 0.5]])
    g = 0.5
    expected = [1 + 0 - 0.25 + 0.0625, 0 - 0.5 + 0.125, -1 + 0.25, 0.5]
    torch.testing.assert_close(discounted_returns(r, g), torch.tensor([expected]))
    mask = torch.tensor([[True, True, True, False]])
    assert dense_rewards(torch.tensor([[1.0, 0.5, 0.0, 1.0]]), mask).tolist() == [[1.0, 0.0, -1.0, 0.0]]
    b = MovingAverageBaseline(0.25)
    assert b.update(torch.tensor([[2.0, 4.0, 9.0]]), torch.tensor([[True, True, False]])) == pytest.approx(2.25)
    loss = policy_gradient_loss(torch.tensor([[-1.0, -2.0]]), torch.tensor([3.0]), torch.tensor([[True, False]]))
    assert float(loss) == pytest.approx(3.0)  # sentence reward, only counted positions, per token


def _rng(i: int) -> torch.Generator:
    return torch.Generator().manual_seed(1000 + i)


# --- discriminators separate real from uniform-random sentences -------------------------------------------
def _held_out_accuracy(score, real: torch.Tensor, fake: torch.Tensor) -> float:
    """AUC: how often a held-out real sentence scores above a held-out random one."""
    with torch.no_grad():
        a, b = score(real), score(fake)
    return float((a.unsqueeze(1) > b.unsqueeze(0)).double().mean())


def _uniform(n: int, ds: Dataset, g: torch.Generator) -> torch.Tensor:
    x = torch.randint(3, len(ds.vocab), (n, ds.max_len), generator=g)
    x[:, -1] = ds.vocab.eos_id
    return x


@pytest.mark.parametrize("kind", ["cnn", "ranker", "lstm"])
def test_discriminators_separate_real_from_random(kind):
    ds = text_dataset(600)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    v, n = len(ds.vocab), ds.max_len
    cnn = CNNConfig(emb_dim=16, num_filters=(8,) * 12)
    if kind == "cnn":
        d = CNNDiscriminator(v, n, cnn)
        loss, score = d.loss, d.prob_real
    elif kind == "ranker":
        d = CNNRanker(v, n, cnn, gamma=1.0)
        refs = ds.valid[:16]
        loss = lambda real, fake: d.loss(real, fake, ds.train[torch.randint(len(ds.train), (16,))])  # noqa: E731
        score = lambda s: d.rank_score(s, refs, ds.valid[16:80])  # noqa: E731
    else:
        d = LSTMDiscriminator(v, n, LSTMDiscConfig(emb_dim=16, hidden_dim=32), eos_id=1)
        loss = d.loss
        score = lambda s: d.prob_real(s)[:, 2]  # noqa: E731  (the prefix of three tokens)
    real_test, fake_test = ds.test, _uniform(len(ds.test), ds, g)
    before = _held_out_accuracy(score, real_test, fake_test)
    opt = optim.Adam(d.parameters(), lr=1e-2)
    for i in range(20):
        real = ds.train[i * 30 : (i + 1) * 30]
        fake = _uniform(30, ds, g)
        d.train()
        step_loss = loss(real, fake)
        opt.zero_grad()
        step_loss.backward()
        opt.step()
    after = _held_out_accuracy(score, real_test, fake_test)
    assert after > 0.9 and after > before, (before, after)


def test_the_lstm_discriminator_scores_each_prefix_causally():
    ds = text_dataset(40)
    torch.manual_seed(0)
    d = LSTMDiscriminator(len(WORDS), ds.max_len, LSTMDiscConfig(emb_dim=8, hidden_dim=16), eos_id=1)
    x = ds.test[:8].clone()
    full = d.prob_real(x)
    width = int(sequence_mask(x, 1).sum(1).max())
    torch.testing.assert_close(d.prob_real(x[:, :width]), full[:, :width])  # padding cut off: same scores
    x[:, 4:] = 3  # a later change leaves the scores of the first four prefixes alone
    torch.testing.assert_close(d.prob_real(x)[:, :4], full[:, :4])
    assert (full[~sequence_mask(ds.test[:8], 1)] == 0.5).all()  # no decision past the end of a sentence


# --- batched roll-outs = per-prefix roll-outs ---------------------------------------------------------------
def _token_score(tokens: torch.Tensor) -> torch.Tensor:
    """A fixed, exactly computable 'discriminator'."""
    weights = torch.arange(1, tokens.shape[1] + 1, dtype=torch.float64)
    return ((tokens.double() * weights).sum(1) % 17) / 17


@pytest.mark.parametrize("eos", [None, 1])
def test_batched_rollout_equals_the_loop_with_greedy_rollouts(eos):
    torch.manual_seed(3)
    gen = LSTMGenerator(9, 7, GeneratorConfig(emb_dim=8, hidden_dim=16, num_layers=2), eos_id=eos, pad_id=0)
    gen.eval()
    x = gen.sample(5, 1.3, seed=4)
    policy = LSTMPolicy(gen)
    for prefixes in (None, [2, 5, 7], [1, 3]):
        a = rollout_rewards(policy, x, _token_score, 3, 0.0, None, prefixes)
        b = rollout_rewards_loop(policy, x, _token_score, 3, 0.0, None, prefixes)
        assert torch.equal(a, b), (a, b)
    torch.manual_seed(0)
    d = CNNDiscriminator(9, 7, CNNConfig(emb_dim=8, num_filters=(4,) * 12)).eval()
    torch.testing.assert_close(
        rollout_rewards(policy, x, d.prob_real, 2, 0.0), rollout_rewards_loop(policy, x, d.prob_real, 2, 0.0)
    )
    assert rollout_rewards(policy, x, d.prob_real, 2, 0.0).shape == (5, 7)


def _completions(sentences: torch.Tensor, prefixes: list[int], per: int, vocab: int) -> torch.Tensor:
    """``per`` x B completions per prefix length: each row keeps its sentence's prefix, then random words."""
    b, length = sentences.shape
    g = torch.Generator().manual_seed(7)
    rows = torch.randint(vocab, (len(prefixes), per * b, length), generator=g)
    for i, t in enumerate(prefixes):
        rows[i, :, :t] = sentences.repeat(per, 1)[:, :t]
    return rows


@pytest.mark.parametrize("unfolded", [False, True])
def test_cnn_scores_completions_through_their_shared_prefixes(unfolded, monkeypatch):
    # widths below, at and above the prefix lengths, one as wide as the sentence; a ranker as RankGAN uses it;
    # the convolutions by nn.Conv1d, or (as for SeqGAN's paper CNN) as one product over the unfolded windows
    monkeypatch.setattr(windows, "UNFOLD_FILTERS", 1 if unfolded else 10**9)
    torch.manual_seed(0)
    vocab, length, prefixes = 11, 9, [1, 2, 4, 5, 8]
    cfg = CNNConfig(emb_dim=6, filter_sizes=(1, 2, 3, 5, 9), num_filters=(3, 4, 2, 3, 2))
    d, ranker = CNNDiscriminator(vocab, length, cfg), CNNRanker(vocab, length, cfg, gamma=2.0)
    x = torch.randint(vocab, (4, length), generator=torch.Generator().manual_seed(1))
    rows = _completions(x, prefixes, 3, vocab)
    flat = rows.flatten(0, 1)
    with torch.no_grad():
        torch.testing.assert_close(d.features.completions(x, rows, prefixes), d.features(flat))
    torch.testing.assert_close(d.prob_real_completions(x, rows, prefixes), d.prob_real(flat))
    refs, comparison = torch.randint(vocab, (5, length)), torch.randint(vocab, (6, length))
    torch.testing.assert_close(
        ranker.rank_score_completions(x, rows, prefixes, refs, comparison), ranker.rank_score(flat, refs, comparison)
    )
    # the shared windows are the sentence's: a completion that does not keep its prefix scores otherwise
    broken = rows.clone()
    broken[3, :, 0] = (broken[3, :, 0] + 1) % vocab
    assert not torch.allclose(d.prob_real_completions(x, broken, prefixes), d.prob_real(broken.flatten(0, 1)))


def test_cnn_trains_alike_through_unfolded_windows(monkeypatch):
    """The discriminator's loss and every gradient, its convolutions taken as products over unfolded windows
    (SeqGAN's paper CNN in training, its weights stored tap-major) or by nn.Conv1d, equal the float64
    computation; sentences that repeat a word have windows that tie for the maximum (identical windows: the
    gradients checked are their sums, whichever of them the maximum's gradient goes to)."""
    vocab, length = 11, 9
    cfg = CNNConfig(emb_dim=6, filter_sizes=(1, 2, 3, 5, 9), num_filters=(3, 4, 2, 3, 2), dropout=0.0)
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randint(vocab, (5, length), generator=g), torch.randint(vocab, (5, length), generator=g)
    real[:2, 3:] = 4  # padding-like runs: identical windows, exact ties
    shapes = None
    for unfolded in (False, True):
        monkeypatch.setattr(windows, "UNFOLD_FILTERS", 1 if unfolded else 10**9)
        torch.manual_seed(0)
        d = CNNDiscriminator(vocab, length, cfg)
        weight = d.features.convs[2].weight  # width 3
        assert weight.transpose(1, 2).is_contiguous() == unfolded  # tap-major: read by the product as a view
        state = {k: (v.shape, v.dtype) for k, v in d.state_dict().items()}
        assert shapes is None or state == shapes  # the same checkpoint either way
        shapes = state
        ref = copy.deepcopy(d).double()
        expected_loss = ref.loss(real, fake)
        expected = torch.autograd.grad(expected_loss, list(ref.parameters()))
        loss = d.loss(real, fake)
        grads = torch.autograd.grad(loss, list(d.parameters()))
        torch.testing.assert_close(loss.double(), expected_loss, rtol=1e-5, atol=1e-6)
        for got, want in zip(grads, expected, strict=True):
            torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-6)


def test_rollout_rewards_through_shared_prefixes_equal_the_plain_rewards():
    torch.manual_seed(3)
    gen = LSTMGenerator(9, 7, GeneratorConfig(emb_dim=8, hidden_dim=16), eos_id=1, pad_id=0).eval()
    x, policy = gen.sample(5, 1.0, seed=4), LSTMPolicy(gen)
    d = CNNDiscriminator(9, 7, CNNConfig(emb_dim=8, num_filters=(4,) * 12)).eval()
    for prefixes in (None, [2, 5, 7], [1, 3], [7]):
        shared = rollout_rewards(policy, x, d.reward(), 3, 1.0, torch.Generator().manual_seed(5), prefixes)
        plain = rollout_rewards(policy, x, d.prob_real, 3, 1.0, torch.Generator().manual_seed(5), prefixes)
        torch.testing.assert_close(shared, plain)


def test_rollout_chunk_size_does_not_change_a_draw(monkeypatch):
    """The CPU steps the roll-out rows in chunks of ``CPU_ROWS``; the uniforms are drawn row after row, so any
    chunk size gives the same completions, bit for bit."""
    from langgan_bench.models.training import rollout

    torch.manual_seed(3)
    gen = LSTMGenerator(9, 7, GeneratorConfig(emb_dim=8, hidden_dim=16), eos_id=1, pad_id=0).eval()
    x, policy = gen.sample(5, 1.0, seed=4), LSTMPolicy(gen)
    seen: list[torch.Tensor] = []

    def keep(rows: torch.Tensor) -> torch.Tensor:
        seen.append(rows.clone())
        return rows.float().mean(dim=1)

    for size in (rollout.CPU_ROWS, 3, 16):
        monkeypatch.setattr(rollout, "CPU_ROWS", size)
        rollout_rewards(policy, x, keep, 4, 1.0, torch.Generator().manual_seed(5))
    assert len(seen[0]) == 6 * 4 * 5 + 5 and torch.equal(seen[0], seen[1]) and torch.equal(seen[0], seen[2])


def test_batched_rollout_matches_the_loop_within_sampling_error():
    torch.manual_seed(3)
    gen = LSTMGenerator(6, 5, GeneratorConfig(emb_dim=8, hidden_dim=16), eos_id=1, pad_id=0).eval()
    x = gen.sample(3, 1.0, seed=4)
    policy, k = LSTMPolicy(gen), 3000
    score = lambda s: (s == 3).double().sum(1) / 5  # noqa: E731
    batched = rollout_rewards(policy, x, score, k, 1.0, torch.Generator().manual_seed(1))
    # the loop, with k repeats per sentence written as k copies of it and one roll-out each
    loop = rollout_rewards_loop(policy, x.repeat(k, 1), score, 1, 1.0, torch.Generator().manual_seed(2))
    loop = loop.view(k, 3, 5).mean(0)
    torch.testing.assert_close(batched[:, -1], loop[:, -1])  # the full sentence: no sampling
    se = 0.5 / k**0.5  # rewards lie in [0, 1]
    assert (batched - loop).abs().max() < 5 * 2**0.5 * se, (batched, loop)
    # and the roll-outs are random: another seed gives other estimates
    again = rollout_rewards(policy, x, score, k, 1.0, torch.Generator().manual_seed(3))
    assert not torch.equal(again, batched)


# --- divergence -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "group", "field"),
    [
        ("seqgan", "adversarial", "lr"),
        ("rankgan", "adversarial", "lr"),
        ("leakgan", "training", "lr"),
        ("scratchgan", "training", "g_lr"),
    ],
)
def test_an_exploding_learning_rate_is_raised_as_diverged(name, group, field):
    ds = text_dataset(200)
    quick = {k: dict(v) for k, v in QUICK[name].items()}
    quick.setdefault(group, {})[field] = 1e30
    with pytest.raises(Diverged) as e:
        fit(name, ds, shrink(name, **quick))
    assert e.value.step > 0 and ("non-finite" in e.value.reason or "collapse" in e.value.reason)


def test_a_collapsed_generator_is_raised_as_diverged(monkeypatch):
    ds = text_dataset(200)
    cls = MODELS.get("scratchgan")
    model = cls(shrink("scratchgan", **QUICK["scratchgan"]), ds, CPU)
    same = ds.train[:1]
    monkeypatch.setattr(model.gen, "sample", lambda n, t=1.0, seed=0: same.repeat(n, 1))
    with pytest.raises(Diverged, match="collapse"):
        model.fit(ds, TrainContext(device=CPU, seed=0, log=lambda m: None))


# --- real text, and a diverging run recorded by the harness ----------------------------------------------------
@pytest.fixture(scope="module")
def coco_slice(data_dir) -> Dataset:
    """A few hundred COCO captions: the real vocabulary and sentence lengths, at the size of the quick tests.
    (The text metrics of a run on COCO through the CLI: tests/test_cli.py.)"""
    from langgan_bench.datasets import load_dataset

    return load_dataset("coco", data_dir).limited(250, 100, 100)


@pytest.mark.parametrize("name", GANS)
def test_every_gan_trains_and_samples_on_real_text(coco_slice, name):
    model, summary = fit(name, coco_slice)
    assert summary.steps > 0 and summary.phases[-1]["kind"] == "adversarial"
    s = model.generator.sample(200, 1.0, seed=0)
    assert_valid_samples(s, coco_slice)
    text = [coco_slice.decode(x) for x in s]
    assert all(t and "<pad>" not in t and "<eos>" not in t for t in text)
    assert len(set(text)) > 100  # a sampler at T = 1, not a collapsed one
    assert {w for t in text for w in t.split()} <= set(coco_slice.vocab.tokens)


def test_a_diverging_run_is_recorded_and_the_bench_goes_on(tmp_path):
    proc = cli_here(*TINY, "--model", "seqgan", "--set", "adversarial.lr=1e30", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "diverged" in proc.stdout and "recording the run as diverged" in proc.stderr
    (row,) = rows_of(tmp_path)
    assert row["metric"] == "diverged_at_step" and float(row["value"]) > 0
    assert row["model"] == "seqgan[adversarial.lr=1e30]"
    (run_dir,) = (tmp_path / "runs").iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["status"] == "diverged" and config["diverged"]["step"] == int(float(row["value"]))
    # the history up to the divergence is kept, its last phase marked
    assert config["training"]["history"][0]["phase"] == "mle" and config["training"]["phases"][-1]["diverged"]
    assert config["training"]["phases"][-1]["last_step"] == config["diverged"]["step"]
    # the rest of the leaderboard is unaffected: the report still builds and shows the divergence
    ok = cli_here(*TINY, "--model", QUICK_MLE, "--out", str(tmp_path))
    assert ok.returncode == 0
    report = cli_here("report", "--results", str(tmp_path))
    assert report.returncode == 0, report.stderr
    assert "diverged at step" in (tmp_path / "report" / "report.md").read_text()


# --- MaliGAN and RelGAN ---------------------------------------------------------------------------------------
def test_maligan_weights_are_normalised_d_over_one_minus_d_minus_the_mean():
    from langgan_bench.models.maligan import importance_advantages

    logits = torch.tensor([2.0, -1.0, 0.5, 0.0], dtype=torch.float64)
    d = torch.sigmoid(logits)
    r = d / (1 - d)
    expected = len(r) * r / r.sum() - 1.0  # m·(r_i / Σ r_j) − 1 = r_i / mean(r) − 1
    torch.testing.assert_close(importance_advantages(logits), expected)
    assert abs(float(importance_advantages(logits).sum())) < 1e-12
    big = torch.tensor([80.0, 79.0, -80.0])  # D/(1−D) overflows float32 here; the softmax form does not
    assert torch.isfinite(importance_advantages(big)).all()


def test_relaxed_samples_are_exact_draws_with_differentiable_one_hots():
    ds = text_dataset(40)
    torch.manual_seed(0)
    gen = LSTMGenerator(len(WORDS), ds.max_len, GeneratorConfig(emb_dim=8, hidden_dim=16), eos_id=1, pad_id=0)
    hard, soft = gen.sample_relaxed(4000, beta=1.0, generator=torch.Generator().manual_seed(1))
    assert_valid_samples(hard, ds)
    torch.testing.assert_close(soft.sum(-1), torch.ones(soft.shape[:2]))
    assert (soft[~sequence_mask(hard, 1)].argmax(-1) == 0).all()  # padding's one-hot after EOS
    # the Gumbel-max draws follow softmax(logits): first-token frequencies vs the model's probabilities
    with torch.no_grad():
        p = torch.softmax(gen.step(torch.full((1,), gen.bos_id), None)[0][0], -1)
    freq = torch.bincount(hard[:, 0], minlength=len(WORDS)).double() / len(hard)
    assert float((freq - p.double()).abs().max()) < 4 * float((p * (1 - p) / len(hard)).sqrt().max()) + 1e-3
    # β large: the relaxed one-hots approach the drawn tokens; gradients reach the generator through them
    hard, soft = gen.sample_relaxed(64, beta=1e4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(soft.argmax(-1), hard)
    gen.zero_grad()
    (soft * torch.randn(soft.shape)).sum().backward()
    assert gen.out.weight.grad is not None and gen.out.weight.grad.abs().sum() > 0
    # soft inputs: a one-hot reads exactly like its id
    ids = ds.test[:5]
    one_hot = torch.nn.functional.one_hot(gen.inputs_for(ids).clamp(max=len(WORDS) - 1), len(WORDS)).float()
    h_ids, _ = gen.features(gen.inputs_for(ids).clamp(max=len(WORDS) - 1))
    torch.testing.assert_close(gen.features(one_hot)[0], h_ids)


def test_relgan_loss_schedule_and_discriminator_by_hand():
    from langgan_bench.models.relgan import MultiRepCNN, MultiRepCNNConfig, beta_at, relativistic_loss

    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.5])
    torch.testing.assert_close(relativistic_loss(pos, neg), torch.log1p(torch.exp(-(pos - neg))).mean())
    assert beta_at(0, 100, 100.0) == 1.0 and beta_at(99, 100, 100.0) == pytest.approx(100.0)
    assert beta_at(50, 101, 100.0) == pytest.approx(10.0)  # exponential: the geometric middle
    ds = text_dataset(40)
    torch.manual_seed(0)
    d = MultiRepCNN(len(WORDS), ds.max_len, MultiRepCNNConfig(num_rep=3, emb_dim=4, num_filters=(2, 2, 2, 2))).eval()
    x = ds.test[:6]
    logits = d(x)
    assert logits.shape == (6, 3)  # one logit per representation
    torch.testing.assert_close(d(torch.nn.functional.one_hot(x, len(WORDS)).float()), logits)

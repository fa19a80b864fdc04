"""The oracle follows SOURCE.md exactly, the synthetic data is reproducible and the splits are disjoint."""

import numpy as np
import pytest
import torch

from langgan_bench.datasets import load_dataset
from langgan_bench.datasets.oracle import DATA_SEED, PARAM_SHAPES, Oracle, seeded_params, seqgan_params


def numpy_oracle_nll(p: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    """Per-token NLL of one sequence written straight from SOURCE.md's equations, in float64."""
    p = {k: v.astype(np.float64) for k, v in p.items()}
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h, c, prev, out = np.zeros(32), np.zeros(32), 0, []
    for tok in tokens:
        x = p["embedding"][prev]
        i = sig(x @ p["wi"] + h @ p["ui"] + p["bi"])
        f = sig(x @ p["wf"] + h @ p["uf"] + p["bf"])
        o = sig(x @ p["wog"] + h @ p["uog"] + p["bog"])
        c = f * c + i * np.tanh(x @ p["wc"] + h @ p["uc"] + p["bc"])
        h = o * np.tanh(c)
        logits = h @ p["wo"] + p["bo"]
        m = logits.max()
        out.append(-(logits[tok] - m - np.log(np.exp(logits - m).sum())))
        prev = tok
    return np.array(out)


@pytest.fixture(scope="module")
def seqgan(data_dir) -> tuple[Oracle, torch.Tensor]:
    """SeqGAN's oracle and 2,000 of its samples (torch's sampler: the suite never needs the oracle-seqgan
    dataset's own 25,000 float64 draws; the generation itself is checked on the seeded oracle below)."""
    oracle = Oracle(seqgan_params(data_dir))
    return oracle, oracle.sample(2000, 1.0, seed=0)


def test_hand_built_sequence_matches_numpy(data_dir):
    params = seqgan_params(data_dir)
    oracle = Oracle(params)
    seq = np.array([0, 1, 4999, 17, 17, 17, 2500, 3, 0, 42, 1234, 4321, 7, 8, 9, 10, 4998, 0, 0, 5])
    expected = numpy_oracle_nll(params, seq)
    got = -oracle.log_prob(torch.from_numpy(seq)[None])[0].double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert oracle.nll(torch.from_numpy(seq)[None]) == pytest.approx(expected.mean(), abs=1e-5)


def test_seqgan_oracle_entropy_matches_the_literature(seqgan):
    # SeqGAN reports 5.750 for the oracle's own per-token NLL on its samples; a wrong gate order or
    # transpose gives a valid-looking oracle with a clearly different value.
    oracle, samples = seqgan
    assert oracle.nll(samples) == pytest.approx(5.75, abs=0.03)


def test_oracle_temperature_uses_the_shared_helper(seqgan):
    oracle, samples = seqgan
    x = samples[:50]
    lp1, lp2 = oracle.log_prob(x, 1.0), oracle.log_prob(x, 2.0)
    assert not torch.allclose(lp1, lp2)
    # at T = 2 the distribution is flatter: rare tokens of real data become more likely on average
    assert float(-lp2.mean()) != pytest.approx(float(-lp1.mean()))


def test_seeded_oracle_is_reproducible_and_splits_are_disjoint():
    a, b = seeded_params(2017), seeded_params(2017)
    assert all(np.array_equal(a[k], b[k]) for k in PARAM_SHAPES)
    assert not np.array_equal(seeded_params(1)["wo"], a["wo"])
    ds = load_dataset("oracle")
    again = load_dataset("oracle")  # from the cache this time
    assert ds.content_hash == again.content_hash
    assert (len(ds.train), len(ds.valid), len(ds.test), ds.max_len, len(ds.vocab)) == (10000, 5000, 10000, 20, 5000)
    rows = [set(map(tuple, split.tolist())) for split in (ds.train, ds.valid, ds.test)]
    assert not (rows[0] & rows[2]) and not (rows[0] & rows[1]) and not (rows[1] & rows[2])
    assert not torch.equal(ds.train[:100], ds.test[:100])
    # the data (possibly from a cache kept between test sessions, see conftest.py) is what generation gives:
    # the first chunk of 500 training rows drawn afresh with the train split's seed
    fresh = ds.oracle.sample_reproducible(500, np.random.default_rng(np.random.SeedSequence([DATA_SEED, 1])))
    assert np.array_equal(fresh, ds.train[:500].numpy())


def test_reproducible_sampling_does_not_depend_on_the_process():
    oracle = Oracle(seeded_params(5))
    x = oracle.sample_reproducible(30, np.random.default_rng(3))
    y = oracle.sample_reproducible(30, np.random.default_rng(3))
    assert np.array_equal(x, y) and x.shape == (30, 20)
    # samples follow the oracle: their NLL is close to the entropy estimated from a larger draw
    big = torch.from_numpy(oracle.sample_reproducible(2000, np.random.default_rng(4)))
    fast = oracle.sample(2000, 1.0, seed=4)
    assert oracle.nll(big) == pytest.approx(oracle.nll(fast), abs=0.1)


def test_bad_parameter_shape_is_refused():
    p = seeded_params(0)
    p["wo"] = p["wo"].T
    with pytest.raises(ValueError, match="wo"):
        Oracle(p)


def test_oracle_reference_rows_are_computed_once_and_cached(monkeypatch, capsys):
    """The oracle's own rows (the floor of every oracle table) come from the cache after the first run; a
    damaged cache entry is recomputed, with a one-line warning, to the same values."""
    from langgan_bench.core.profiles import PROFILES
    from langgan_bench.harness.sweep import oracle_reference, oracle_reference_path
    from langgan_bench.metrics import METRICS

    ds = load_dataset("oracle").limited(200, 100, 300)
    profile = PROFILES.get("tiny")
    metrics = [METRICS.get(n) for n in METRICS.names()]
    first = oracle_reference(ds, profile, metrics)
    # the oracle has no text: its rows are the NLLs and the token statistics of its own samples
    token_stats = {f"{m}-{n}" for m in ("distinct", "unique", "entropy") for n in (1, 2, 3, 4)}
    assert {v.metric for v in first} == {"nll_oracle", "nll_test"} | token_stats | {
        f"ms_jaccard-{n}" for n in (2, 3, 4, 5)
    }
    assert next(v for v in first if v.metric == "nll_test").value == pytest.approx(ds.oracle.nll(ds.test))
    with monkeypatch.context() as m:
        m.setattr(type(ds.oracle), "sample", lambda *a, **k: pytest.fail("recomputed"))
        assert oracle_reference(ds, profile, metrics) == first
    oracle_reference_path(ds, profile, metrics).write_text('[{"metric": "nll_test", "value": "1"}]')
    assert oracle_reference(ds, profile, metrics) == first
    assert "is damaged" in capsys.readouterr().err

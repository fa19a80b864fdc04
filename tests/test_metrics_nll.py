"""NLL_oracle and NLL_test equal direct computations, behave with temperature, and carry signatures."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from langgan_bench import __version__
from langgan_bench.core.profiles import PROFILES
from langgan_bench.datasets import load_dataset
from langgan_bench.metrics import METRICS, EvalInputs
from langgan_bench.metrics.nll import nll_oracle, nll_test
from langgan_bench.models import MODELS
from langgan_bench.models.training.base import TrainContext

from .test_oracle import numpy_oracle_nll


@pytest.fixture(scope="module")
def trained(data_dir):
    """MLE of the tiny profile trained for one epoch on the seeded oracle: as after the profile's three epochs,
    its test NLL is lowest at T = 1 and its samples' oracle NLL rises with T."""
    ds = load_dataset("oracle").limited(2000, 500, 1000)
    torch.manual_seed(0)
    cfg = MODELS.get("mle").config_for("tiny")
    cfg = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, max_epochs=1))
    model = MODELS.get("mle")(cfg, ds, torch.device("cpu"))
    model.fit(ds, TrainContext(device=torch.device("cpu"), seed=0, log=lambda m: None))
    return ds, model.generator


def test_nll_oracle_equals_numpy_cross_entropy(trained):
    ds, gen = trained
    samples = gen.sample(40, 1.0, seed=1)
    v = nll_oracle(samples=samples, oracle=ds.oracle, oracle_id=ds.ident)
    params = ds.oracle.params_numpy()
    expected = np.mean([numpy_oracle_nll(params, s) for s in samples.numpy()])
    assert v.value == pytest.approx(expected, abs=1e-5)
    assert v.signature == f"nll_oracle|oracle:{ds.ident}|n:40|unit:nats/token|v:{__version__}"
    assert v.n_samples == 40


def test_nll_test_equals_direct_cross_entropy_on_the_test_split(trained):
    ds, gen = trained
    gen.eval()
    refs = ds.test[:300]  # the direct reference holds every logit at once
    for t in (0.5, 1.0, 2.0):
        v = nll_test(generator=gen, references=refs, temperature=t, refs_id=f"{ds.ident}:test")
        with torch.no_grad():
            logits = gen(refs) / t
        expected = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), refs.reshape(-1)).item()
        assert v.value == pytest.approx(expected, rel=1e-5)
        assert v.signature == f"nll_test|refs:{ds.ident}:test:300|unit:nats/token|v:{__version__}"
    # the adapter scores the test split, never the training split
    x = EvalInputs.from_model(ds, PROFILES.get("tiny"), gen, 1.0, gen.sample(10, 1.0, 0), seed=0, device="cpu")
    (row,) = METRICS.get("nll_test").compute(x)
    assert row.value == pytest.approx(gen.nll(ds.test), rel=1e-9)
    assert row.value != pytest.approx(gen.nll(ds.train[:1000]), rel=1e-6)


def test_temperature_behaves_for_a_trained_model(trained):
    ds, gen = trained
    temps = [0.5, 0.8, 0.9, 1.0, 1.1, 1.5, 2.0]
    oracle_nll = [nll_oracle(samples=gen.sample(500, t, seed=11), oracle=ds.oracle, oracle_id="x").value for t in temps]
    assert oracle_nll == sorted(oracle_nll), oracle_nll  # quality falls as T rises
    test_nll = gen.nll_many(ds.test, temps)
    assert temps[int(np.argmin(test_nll))] in (0.9, 1.0, 1.1), test_nll  # coverage is best near T = 1


def test_metric_applicability():
    ds = load_dataset("oracle")
    assert METRICS.get("nll_oracle").applies(ds, 0.0, has_generator=True)
    assert not METRICS.get("nll_test").applies(ds, 0.0, has_generator=True)  # greedy has no density
    assert METRICS.get("nll_test").applies(ds, 0.5, has_generator=True)
    assert not METRICS.get("nll_test").applies(ds, None, has_generator=False)  # a file of samples: no model
    assert not METRICS.get("bleu").applies(ds, 1.0, has_generator=True)  # real text only

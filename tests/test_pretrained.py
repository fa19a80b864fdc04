"""Pre-training done once and shared (models/pretrained.py): a GAN that reuses a stored pre-trained generator
ends with the weights, steps and history of one that trained it; the key covers what determines the weights.
Through the CLI (runs recording what they reused): tests/test_gans.py."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from langgan_bench.models import MODELS
from langgan_bench.models.training.base import TrainContext
from langgan_bench.models.training.pretrained import PretrainedStore, pretrain_key
from langgan_bench.testing import CPU, build, toy_dataset, weights


@pytest.fixture(scope="module")
def ds():
    return toy_dataset(200)


def fit(name: str, ds, store: PretrainedStore | None, lines: list[str] | None = None, seed: int = 0):
    model = build(MODELS.get(name), ds, seed=seed)
    log = lines.append if lines is not None else lambda m: None
    ctx = TrainContext(device=CPU, seed=seed, log=log, pretrained=store)
    return model, model.fit(ds, ctx)


def same(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def plain(ds):
    """SeqGAN and RankGAN (tiny) fitted without a store: what reuse must reproduce."""
    return {name: fit(name, ds, None) for name in ("seqgan", "rankgan")}


def test_a_reused_pretraining_gives_the_weights_of_a_trained_one(ds, plain, tmp_path):
    store, lines = PretrainedStore(tmp_path, print), []
    trained, s1 = fit("seqgan", ds, store)
    assert s1.pretrained is not None and s1.pretrained["reused"] is False
    assert len(list(tmp_path.glob("*.pt"))) == 1
    again, s2 = fit("seqgan", ds, store, lines)
    assert s2.pretrained == {**s1.pretrained, "reused": True}
    assert any("reusing the generator pre-trained" in line for line in lines)
    # RankGAN pre-trains the same generator with the same settings: it reuses SeqGAN's
    rank, s3 = fit("rankgan", ds, store)
    assert s3.pretrained["reused"] is True and s3.pretrained["key"] == s1.pretrained["key"]
    for model, summary, name in ((trained, s1, "seqgan"), (again, s2, "seqgan"), (rank, s3, "rankgan")):
        reference, ref_summary = plain[name]
        assert same(model, reference), name
        assert (summary.steps, summary.history) == (ref_summary.steps, ref_summary.history), name
        assert summary.best_valid_nll == ref_summary.best_valid_nll


def test_the_key_covers_what_determines_the_weights(ds):
    cls = MODELS.get("seqgan")
    cfg = cls.config_for("tiny")

    def key(config=cfg, seed: int = 0, data=ds, init_seed: int = 0) -> str:
        gen = build(cls, data, config, seed=init_seed).generator
        return pretrain_key(gen, data, config.pretrain, seed, CPU)

    base = key()
    assert key() == base
    lr = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, lr=cfg.pretrain.lr / 2))
    wide = dataclasses.replace(cfg, generator=dataclasses.replace(cfg.generator, hidden_dim=16))
    other = {
        "MLE settings": key(lr),
        "generator": key(wide),
        "seed": key(seed=1),
        "initial weights": key(init_seed=1),
        "data": key(data=toy_dataset(200, seed=1)),
    }
    assert all(k != base for k in other.values()), other
    assert len(set(other.values())) == len(other)


def test_a_damaged_entry_is_trained_again_with_a_warning(ds, plain, tmp_path, caplog):
    store = PretrainedStore(tmp_path, print)
    fit("seqgan", ds, store)
    (entry,) = tmp_path.glob("*.pt")
    entry.write_bytes(entry.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="langgan_bench"):
        model, summary = fit("seqgan", ds, PretrainedStore(tmp_path, print))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert summary.pretrained["reused"] is False
    assert any("is damaged" in line and "pre-training again" in line for line in lines), lines
    assert same(model, plain["seqgan"][0])
    assert fit("seqgan", ds, store)[1].pretrained["reused"] is True  # rewritten whole

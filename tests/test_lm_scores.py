"""LM score is a direct cross-entropy under the judge; the reverse LM rewards coverage of the real data."""

import pytest
import torch
import torch.nn.functional as F

from langgan_bench.datasets import load_dataset
from langgan_bench.metrics.lm import JUDGES, judge_lm, lm_score, reverse_lm_score


@pytest.fixture(scope="module")
def coco(data_dir):
    return load_dataset("coco", data_dir).limited(2000, 500, 1000)


def test_lm_score_is_a_direct_cross_entropy(coco):
    judge = judge_lm(coco, "tiny")
    samples = coco.test[:64]
    with torch.no_grad():
        logits = judge(samples)
    mask = judge.mask(samples)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), samples.reshape(-1), reduction="none")
    expected = float(ce.reshape(samples.shape)[mask].double().mean())
    assert lm_score(samples=samples, judge=judge) == pytest.approx(expected, rel=1e-5)
    # the judge learned something: real sentences score better than shuffled words
    shuffled = samples.clone()
    for row in shuffled:
        n = int((row != 0).sum()) - 1
        row[:n] = row[:n][torch.randperm(n, generator=torch.Generator().manual_seed(0))]
    assert lm_score(samples=samples, judge=judge) < lm_score(samples=shuffled, judge=judge)
    # trained once: a second request is served from the cache
    assert judge_lm(coco, "tiny") is judge


def test_reverse_lm_rewards_coverage(coco):
    cfg = JUDGES["tiny"]
    diverse = coco.train[:600]
    collapsed = coco.train[:10].repeat(60, 1)  # ten sentences, repeated: a mode-dropping "model"
    good = reverse_lm_score(samples=diverse, references=coco.test, dataset=coco, config=cfg, seed=0)
    bad = reverse_lm_score(samples=collapsed, references=coco.test, dataset=coco, config=cfg, seed=0)
    assert good < bad
    again = reverse_lm_score(samples=diverse, references=coco.test, dataset=coco, config=cfg, seed=0)
    assert again == good  # seeded

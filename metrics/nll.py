"""NLL_oracle and NLL_test, in nats per token, averaged over tokens (padding excluded).

- NLL_oracle(T): N sequences drawn from the model at temperature T, scored by the oracle (always at T = 1).
  Quality: low means the samples are likely under the true distribution.
- NLL_test(T): the model at temperature T scores the held-out *test* split (never the training split).
  Coverage/diversity: low means the model gives mass to real data. Undefined at T = 0.
"""

from __future__ import annotations

import torch

from langgan_bench.datasets.oracle import Oracle
from langgan_bench.metrics.base import EvalInputs, MetricValue, signature
from langgan_bench.models.networks.generator import Generator


def nll_oracle(*, samples: torch.Tensor, oracle: Oracle, oracle_id: str) -> MetricValue:
    """Mean per-token NLL of ``samples`` under ``oracle``; ``oracle_id`` names it in the signature."""
    value = oracle.nll(samples)
    sig = signature("nll_oracle", oracle=oracle_id, n=len(samples), unit="nats/token")
    return MetricValue("nll_oracle", value, sig, len(samples))


def nll_test(*, generator: Generator, references: torch.Tensor, temperature: float, refs_id: str) -> MetricValue:
    """Mean per-token NLL of the held-out ``references`` under ``generator`` at ``temperature``."""
    value = generator.nll(references, temperature)
    sig = signature("nll_test", refs=f"{refs_id}:{len(references)}", unit="nats/token")
    return MetricValue("nll_test", value, sig, len(references))


def evaluate_nll_oracle(x: EvalInputs) -> list[MetricValue]:
    assert x.dataset.oracle is not None
    return [nll_oracle(samples=x.samples, oracle=x.dataset.oracle, oracle_id=x.dataset.ident)]


def evaluate_nll_test(x: EvalInputs) -> list[MetricValue]:
    assert x.generator is not None and x.temperature is not None
    return [
        nll_test(
            generator=x.generator,
            references=x.dataset.test,
            temperature=x.temperature,
            refs_id=f"{x.dataset.ident}:test",
        )
    ]

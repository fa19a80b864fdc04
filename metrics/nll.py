"""NLL_oracle and NLL_test, in nats per token, averaged over tokens (padding excluded).

- NLL_oracle(T): N sequences drawn from the model at temperature T, scored by the oracle (always at T = 1).
  Quality: low means the samples are likely under the true distribution.
- NLL_test(T): the model at temperature T scores the held-out *test* split (never the training split).
  Coverage/diversity: low means the model gives mass to real data. Undefined at T = 0.
- NLL_test at top_k / top_p: the same under the decoder's renormalised truncated distribution. A test token
  outside the kept set has probability 0, so the NLL is +inf wherever one is; ``nll_test_outside`` says the
  fraction of test tokens outside, so an infinite value is explained rather than hidden. The other decoders
  (beam, rejection) define no density: no NLL_test row.
"""

from __future__ import annotations

import torch

from langgan_bench.core.decoders import TEMPERATURE
from langgan_bench.datasets.oracle import Oracle
from langgan_bench.metrics.base import EvalInputs, MetricValue, signature
from langgan_bench.models.networks.decoding import decoder_nll
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


def nll_test_truncated(
    *, generator: Generator, references: torch.Tensor, decoder: str, knob: float, refs_id: str
) -> list[MetricValue]:
    """NLL_test under a truncating decoder (top_k, top_p) and the fraction of test tokens outside its kept set.
    A generator that caches every knob's values from one pass (the sweep's) is asked through its
    ``decoder_nll(tokens, decoder, knob)``."""
    cached = getattr(generator, "decoder_nll", None)
    nll, outside = (
        cached(references, decoder, knob) if cached else decoder_nll(generator, references, decoder, [knob])[0]
    )
    refs = f"{refs_id}:{len(references)}"
    return [
        MetricValue("nll_test", nll, signature("nll_test", refs=refs, unit="nats/token"), len(references)),
        MetricValue(
            "nll_test_outside", outside, signature("nll_test_outside", refs=refs, unit="tokens"), len(references)
        ),
    ]


def evaluate_nll_oracle(x: EvalInputs) -> list[MetricValue]:
    assert x.dataset.oracle is not None
    return [nll_oracle(samples=x.samples, oracle=x.dataset.oracle, oracle_id=x.dataset.ident)]


def evaluate_nll_test(x: EvalInputs) -> list[MetricValue]:
    assert x.generator is not None and x.temperature is not None
    if x.decoder != TEMPERATURE:
        assert x.knob is not None
        refs_id = f"{x.dataset.ident}:test"
        return nll_test_truncated(
            generator=x.generator, references=x.dataset.test, decoder=x.decoder, knob=x.knob, refs_id=refs_id
        )
    return [
        nll_test(
            generator=x.generator,
            references=x.dataset.test,
            temperature=x.temperature,
            refs_id=f"{x.dataset.ident}:test",
        )
    ]

"""The model contract, for every registered model (a model added to the registry is tested by registering it):
determinism, the Generator contract, resume from a crash at several points, divergence recorded. The same
checks are the public ``langgan_bench.testing`` API for models outside the repo; a broken model fails them."""

from __future__ import annotations

import random
from typing import Any

import pytest

from langgan_bench import testing
from langgan_bench.models import MODELS
from langgan_bench.models.maligan import MaliGAN

DS = testing.toy_dataset(200)


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[Any, int]]:
    """Each model's fit from the determinism check and its step count: the resume check's uninterrupted
    reference (which it fits itself when run alone)."""
    return {}


@pytest.mark.parametrize("name", MODELS.names())
def test_same_seed_same_weights_and_the_generator_contract(name, fitted):
    fitted[name] = testing.check_determinism(MODELS.get(name), DS)
    testing.check_generator(fitted[name][0], DS)


@pytest.mark.parametrize("name", MODELS.names())
def test_a_crash_at_any_phase_resumes_to_identical_weights(name, tmp_path, fitted):
    testing.check_resume(MODELS.get(name), DS, tmp_path, reference=fitted.get(name))


@pytest.mark.parametrize("name", MODELS.names())
def test_non_finite_weights_end_the_run_as_diverged(name):
    testing.check_divergence(MODELS.get(name), DS)


@pytest.mark.parametrize("name", MODELS.names())
def test_configs_are_frozen_dataclasses_with_a_tiny_profile(name):
    cls = MODELS.get(name)
    assert {"tiny", "small", "paper"} <= set(cls.profiles)
    for cfg in cls.profiles.values():
        with pytest.raises(AttributeError):
            cfg.x = 1  # frozen


class ForgetsItsDiscriminator(MaliGAN):
    """A broken model: its checkpoints leave the discriminator out, so a resumed run trains another one."""

    name = "broken"

    def modules(self) -> dict[str, Any]:
        return {k: v for k, v in super().modules().items() if k != "discriminator"}


class IgnoresItsSeed(MaliGAN):
    """A broken model: draws its generator batches with an unseeded random number."""

    name = "unseeded"

    def adversarial_step(self, ctx, n):
        return super().adversarial_step(ctx, n + random.randrange(10**9))


def test_the_checks_catch_a_broken_model(tmp_path):
    with pytest.raises(AssertionError, match="resumed after step"):
        testing.check_resume(ForgetsItsDiscriminator, DS, tmp_path)
    with pytest.raises(AssertionError, match="same seed, different weights"):
        testing.check_determinism(IgnoresItsSeed, DS)

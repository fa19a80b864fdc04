"""The model contract, for every registered model (a model added to the registry is tested by registering it):
determinism, the Generator contract, resume from a crash at several points, divergence recorded. The same
checks are the public ``langgan_bench.testing`` API for models outside the repo; a broken model fails them."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import torch

from langgan_bench import testing
from langgan_bench.models import MODELS
from langgan_bench.models.maligan import MaliGAN
from langgan_bench.models.training.base import Diverged, TrainContext

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


def test_a_diverged_mle_run_keeps_the_history_that_led_to_it():
    """As a GAN's does (tests/test_gans.py): the epochs finished before the divergence, and its one phase
    ending at the divergence, go with the exception into the run's record."""
    cls = MODELS.get("mle")
    model = cls(cls.config_for("tiny"), DS, torch.device("cpu"))
    per_epoch = -(-len(DS.train) // model.config.training.batch_size)

    class Poisoned(TrainContext):
        def step_done(self, make_state):
            super().step_done(make_state)
            if self.steps == per_epoch + 1:  # in the second epoch
                with torch.no_grad():
                    for p in model.generator.parameters():
                        p.fill_(float("nan"))

    with pytest.raises(Diverged) as caught:
        model.fit(DS, Poisoned(device=torch.device("cpu"), seed=0, log=lambda m: None))
    e = caught.value
    assert e.step == per_epoch + 1
    assert [(h["phase"], h["epoch"], h["step"]) for h in e.history] == [("mle", 1, per_epoch)]
    assert math.isfinite(e.history[0]["valid_nll"])
    (phase,) = e.phases
    assert phase["diverged"] and (phase["first_step"], phase["last_step"]) == (0, e.step) and phase["seconds"] > 0

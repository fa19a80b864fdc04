"""GAN training speed for ``make perf``: the throughput of each GAN's adversarial step on the oracle benchmark
with the ``small`` profile's sizes, and SeqGAN's batched Monte Carlo roll-outs against the per-prefix Python
loop, on the same sentences, networks and device in the same run.

Throughput is measured from freshly initialised networks (the cost of a step does not depend on how trained
they are) after one warm-up step; a step is what the model repeats during its adversarial phase: SeqGAN,
RankGAN and LeakGAN: one generator update (sample a batch, value every prefix by roll-outs, REINFORCE);
ScratchGAN: one discriminator and one generator update on fresh batches.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import torch

from langgan_bench.core.config import resolve_device
from langgan_bench.datasets import load_dataset
from langgan_bench.datasets.base import Dataset
from langgan_bench.harness.perf import best_seconds
from langgan_bench.models import MODELS
from langgan_bench.models.networks.generator import evaluating
from langgan_bench.models.training.base import TrainContext
from langgan_bench.models.training.rollout import LSTMPolicy, rollout_rewards, rollout_rewards_loop
from langgan_bench.models.training.template import AdversarialModel, AdversarialSteps

PROFILE = "small"
STEPS = 3  # timed steps per model, after one warm-up step
ROLLOUTS = (4, 16)  # the small profile's K and the paper's


def _step_fn(model: Any, data: Dataset, ctx: TrainContext) -> tuple[Callable[[], Any], int]:
    """One adversarial step of ``model`` and the number of generated sentences it trains on."""
    counter = itertools.count()
    alternating = any(isinstance(p, AdversarialSteps) for p in model.phases())

    def step() -> None:  # what the template runs for one step of the model's adversarial phase
        n = next(counter)
        if alternating:
            model.discriminator_step(ctx, n)
        model.adversarial_step(ctx, n)

    cfg = model.config.adversarial if hasattr(model.config, "adversarial") else model.config.training
    return step, cfg.batch_size


def throughput(name: str, data: Dataset, device: torch.device) -> tuple[float, int]:
    """Seconds per adversarial step (mean of ``STEPS``) and sentences per step."""
    torch.manual_seed(0)
    cls = MODELS.get(name)
    model = cls(cls.config_for(PROFILE), data, device)
    ctx = TrainContext(device=device, seed=0, checkpoint_every_s=float("inf"), log=lambda m: None)
    step, sentences = _step_fn(model, data, ctx)
    step()  # warm-up
    t = time.perf_counter()
    for _ in range(STEPS):
        step()
    return (time.perf_counter() - t) / STEPS, sentences


def rollout_comparison(data: Dataset, device: torch.device, log: Callable[[str], None]) -> list[str]:
    """SeqGAN's roll-out rewards for one batch, batched and per prefix, on identical inputs."""
    torch.manual_seed(0)
    cls = MODELS.get("seqgan")
    cfg = cls.config_for(PROFILE)
    model = cls(cfg, data, device)
    x = model.gen.sample(cfg.adversarial.batch_size, 1.0, seed=1).to(device)
    policy = LSTMPolicy(model.rollout_net)
    b, length = x.shape
    lines = [f"SeqGAN roll-out rewards for {b} sentences x {length} prefixes ({PROFILE} sizes, {device}):"]
    for k in ROLLOUTS:

        def run(fn: Callable[..., torch.Tensor], k: int = k) -> torch.Tensor:
            rng = torch.Generator(device=device).manual_seed(0)
            with evaluating(model.rollout_net):
                return fn(policy, x, model.disc.prob_real, k, 1.0, rng)

        log(f"roll-outs K={k}: batched")
        batched = best_seconds(lambda run=run: run(rollout_rewards), 2)
        log(f"roll-outs K={k}: per-prefix loop")
        loop = best_seconds(lambda run=run: run(rollout_rewards_loop), 1)
        lines.append(
            f"  K={k:<3} batched {batched:6.2f}s   per-prefix loop {loop:6.2f}s   "
            f"batched is {loop / batched:.1f}x faster"
        )
    return lines


def report(log: Callable[[str], None]) -> list[str]:
    """Lines to print: throughput of every GAN's adversarial step, then the roll-out comparison."""
    device = resolve_device("auto")
    data = load_dataset("oracle")
    lines = [
        f"GAN adversarial steps on oracle, {PROFILE} profile ({device}, {torch.get_num_threads()} threads), "
        f"mean of {STEPS} steps:"
    ]
    for name in [n for n in MODELS.names() if issubclass(MODELS.get(n), AdversarialModel)]:
        log(f"{name}: timing adversarial steps")
        seconds, sentences = throughput(name, data, device)
        lines.append(
            f"  {name:<10} {sentences:4d} sentences/step  {seconds:6.2f}s/step  {sentences / seconds:8.1f} sentences/s"
        )
    return [*lines, "", *rollout_comparison(data, device, log)]


if __name__ == "__main__":  # ``python -m langgan_bench.harness.perf_training``: this section of make perf alone
    import logging

    from langgan_bench.core import log

    log.configure()
    print("\n".join(report(lambda msg: logging.getLogger(__name__).info("... %s", msg))))

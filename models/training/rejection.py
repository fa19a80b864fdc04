"""The discriminator of ``disc_reject`` (discriminator rejection, "Language GANs Falling Short" section 5): trained
after the model, to tell the model's own samples (T = 1) from real training sentences, then used to keep the
samples it scores above a threshold (``networks/decoding.py``).

As in the paper's code (``common/eval_decode.py: train_discriminator``) it is trained epoch by epoch on fresh
samples against real sentences and stopped when its loss on the validation split (against fresh samples too)
stops improving, the best epoch kept. The network is SeqGAN's CNN discriminator (the paper used an LSTM
classifier; a CNN is what this harness's GANs already train, and it scores whole sentences). Every draw is
seeded from the run's seed, so the same run trains the same discriminator.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from langgan_bench.core.config import derive_seed
from langgan_bench.datasets.base import Dataset
from langgan_bench.models.networks.discriminators import SCORE_BATCH, CNNConfig, CNNDiscriminator
from langgan_bench.models.networks.generator import Generator, evaluating
from langgan_bench.models.training.base import adam, optimise


@dataclass(frozen=True)
class RejectionDiscConfig:
    """The CNN, and its training: at most ``epochs`` passes, each over ``samples`` fresh model samples and as
    many real training sentences in batches of ``batch_size`` (half each), Adam at ``lr``; stopped after
    ``patience`` epochs without a better validation loss."""

    cnn: CNNConfig
    epochs: int
    samples: int
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 1


#: Per profile: the CNN of SeqGAN's configuration in the harness's ``tiny`` / ``small`` sizes, SeqGAN's paper CNN
REJECTION_DISCRIMINATORS: dict[str, RejectionDiscConfig] = {
    "tiny": RejectionDiscConfig(
        CNNConfig(emb_dim=16, num_filters=(4, 8, 8, 8, 8, 4, 4, 4, 4, 4, 8, 8)), epochs=2, samples=1000
    ),
    "small": RejectionDiscConfig(
        CNNConfig(emb_dim=32, num_filters=(10, 20, 20, 20, 20, 10, 10, 10, 10, 10, 16, 16)), epochs=5, samples=5000
    ),
    "paper": RejectionDiscConfig(CNNConfig(), epochs=20, samples=10_000),
}


def rejection_config(profile: str) -> RejectionDiscConfig:
    return REJECTION_DISCRIMINATORS[profile]


def train_rejection_discriminator(
    generator: Generator,
    dataset: Dataset,
    cfg: RejectionDiscConfig,
    seed: int,
    device: torch.device,
    log: Callable[[str], None] = lambda msg: None,
) -> CNNDiscriminator:
    """A CNN discriminator trained to tell ``generator``'s samples (T = 1) from ``dataset``'s training sentences,
    early-stopped on its validation split against fresh samples; in evaluation mode. Its initial weights and
    dropout masks come from the global generator seeded from ``seed`` inside a fork of the random state, so the
    caller's random state is left as it was."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(derive_seed(seed, "disc_reject", "init"))
        return _train(generator, dataset, cfg, seed, device, log)


def _train(
    generator: Generator,
    dataset: Dataset,
    cfg: RejectionDiscConfig,
    seed: int,
    device: torch.device,
    log: Callable[[str], None],
) -> CNNDiscriminator:
    disc = CNNDiscriminator(len(dataset.vocab), dataset.max_len, cfg.cnn).to(device)
    opt = adam(disc.parameters(), cfg.lr)
    valid = dataset.valid
    valid_fake = generator.sample(len(valid), 1.0, derive_seed(seed, "disc_reject", "valid")).cpu()
    best, best_state, bad, steps = math.inf, copy.deepcopy(disc.state_dict()), 0, 0
    half = max(cfg.batch_size // 2, 1)
    for epoch in range(cfg.epochs):
        fake = generator.sample(cfg.samples, 1.0, derive_seed(seed, "disc_reject", "fake", epoch)).cpu()
        g = torch.Generator().manual_seed(derive_seed(seed, "disc_reject", "order", epoch))
        real = dataset.train[torch.randperm(len(dataset.train), generator=g)[: len(fake)]]
        n = min(len(real), len(fake))
        order_real, order_fake = torch.randperm(n, generator=g), torch.randperm(n, generator=g)
        disc.train()
        for i, j in zip(order_real.split(half), order_fake.split(half), strict=True):
            loss = disc.loss(real[i].to(device), fake[j].to(device))
            optimise(loss, opt, step=steps, what="disc_reject discriminator loss")
            steps += 1
        val = validation_loss(disc, valid, valid_fake)
        log(f"disc_reject discriminator: epoch {epoch + 1}/{cfg.epochs}, validation loss {val:.4f}")
        if val < best:
            best, best_state, bad = val, copy.deepcopy(disc.state_dict()), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    disc.load_state_dict(best_state)
    disc.eval()
    return disc


@torch.no_grad()
def validation_loss(disc: CNNDiscriminator, real: torch.Tensor, fake: torch.Tensor) -> float:
    """The mean binary cross-entropy of D on real (label 1) and generated (label 0) sentences, in evaluation
    mode and in chunks (no regulariser: the number early stopping compares)."""
    device = next(disc.parameters()).device
    total, count = 0.0, 0
    with evaluating(disc):
        for x, label in ((real, 1.0), (fake, 0.0)):
            for chunk in x.split(SCORE_BATCH):
                logits = disc(chunk.to(device))
                target = torch.full_like(logits, label)
                total += float(F.binary_cross_entropy_with_logits(logits, target, reduction="sum"))
                count += len(chunk)
    return total / max(count, 1)

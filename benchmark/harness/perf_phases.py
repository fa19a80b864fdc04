"""The speed issue's phases for ``make perf``, on SeqGAN's oracle configuration (vocabulary 5,000, embedding
32, hidden 32, length 20, batch 64, 10,000 training sentences; SeqGAN's paper CNN, K = 16 roll-outs):

- MLE epoch (10k sentences, batch 64), and the validation NLL of 5k sentences on its own;
- SeqGAN adversarial generator step (sample 64, 19 prefixes × 16 roll-outs, REINFORCE);
- discriminator round (sample 10k negatives + one epoch over 10k real + 10k fake);

each with its seconds (best of ``REPEATS``), its floating-point operations (counted analytically: the output
layers' products, 2 · hidden · V per sampled or scored token and 3x that when trained, and the CNN's
convolutions and highway; the LSTM cells are left out, under 5% here) and the fraction of two ceilings
measured in the same run: the best rate of the output layer's three products at their shapes and of a
square 2,048 product, both through the products the code uses (``kernels/dense.py``); torch's own ``mm`` is
printed beside them, since on some CPUs it is much slower (docs/performance.md). A phase that is mostly CNN
can exceed 100% of the output layer's ceiling.
An A/B row times the same MLE epoch through the plain output layer (``PlainOutputGenerator``) in the same
process, and the glibc allocator tuning (``core/memory.py``) is reported with the epoch's system time and
page faults: run ``LANGGAN_MALLOC=default make perf`` for the figures without it.
"""

from __future__ import annotations

import itertools
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from langgan_bench.core import memory
from langgan_bench.core.config import resolve_device
from langgan_bench.datasets import load_dataset
from langgan_bench.harness.perf import REFERENCE_PEER, Peer, best_seconds, peer_cells, peer_note
from langgan_bench.kernels import ops
from langgan_bench.kernels.dense import dense, dense_matmul
from langgan_bench.models import MODELS
from langgan_bench.models.networks.generator import (
    GeneratorConfig,
    LSTMGenerator,
    log_prob_from_logits,
    nll_from_logits,
)
from langgan_bench.models.training.base import TrainContext, make_generator
from langgan_bench.models.training.discriminator import DiscTraining, RoundsProgress, train_discriminator
from langgan_bench.models.training.mle import MLETraining, train_mle

REPEATS = 2
NEGATIVES = 10_000  # the discriminator round's fresh negatives (and as many real sentences)
GOAL = {"mle_epoch": 1.7, "validation": 0.3, "g_step": 2.7, "d_round": 11.0}


class PlainOutputGenerator(LSTMGenerator):
    """The shared generator trained through the plain output layer (the full logits, log-softmax, gather), the
    A/B row's other side: the same network and weights, another ``log_prob``."""

    log_prob = log_prob_from_logits


def cnn_flops(disc: Any, length: int) -> int:
    """Forward flops of one sentence through a CNN discriminator (convolutions and highway)."""
    feats = disc.features
    convs = sum(
        2 * c.in_channels * c.kernel_size[0] * c.out_channels * (length - c.kernel_size[0] + 1) for c in feats.convs
    )
    return convs + 2 * 2 * feats.dim * feats.dim + 2 * feats.dim


def matmul_ceiling(device: torch.device, rows: int = 64 * 20, hidden: int = 32, vocab: int = 5000) -> float:
    """Best FLOP/s of the output layer's forward and two backward products at the MLE batch's shapes, through
    the products the output layer uses (``models/linear.py``: oneDNN on a CPU)."""
    h, w = torch.randn(rows, hidden, device=device), torch.randn(vocab, hidden, device=device)
    g = torch.randn(rows, vocab, device=device)

    def products() -> None:
        for _ in range(5):
            dense(h, w), dense_matmul(g, w), dense_matmul(h.t(), g)
        if device.type == "cuda":
            torch.cuda.synchronize()

    products()
    return 5 * 3 * 2 * rows * hidden * vocab / best_seconds(products, 5)


def matmul_peak(device: torch.device, n: int = 2048, product: Callable[..., torch.Tensor] = dense_matmul) -> float:
    """Best FLOP/s of a square fp32 matmul: what the machine's cores reach on a compute-bound product
    (``product``: ``models/linear.py``'s by default; ``torch.mm`` for torch's own BLAS, MKL on a CPU)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

    def square() -> None:
        product(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()

    square()
    return 2 * n**3 / best_seconds(square, 5)


def _ctx(device: torch.device) -> TrainContext:
    return TrainContext(device=device, seed=0, checkpoint_every_s=float("inf"), log=lambda m: None)


def report(
    data_dir: Path | None, log: Callable[[str], None], limit: int | None = None, peer: Peer = REFERENCE_PEER
) -> list[str]:
    """The phase table against ``peer``; ``limit`` slices every split (a quick check of this code, not a
    measurement)."""
    device = resolve_device("auto")
    try:
        data = load_dataset("oracle-seqgan", data_dir)
    except Exception:  # no SeqGAN oracle files here: the seeded oracle has the same sizes
        data = load_dataset("oracle")
    data = data.limited(limit, limit, limit)
    peak, square, torch_mm = matmul_ceiling(device), matmul_peak(device), matmul_peak(device, product=torch.mm)
    rows: list[tuple[str, str, float, float, str]] = []

    # --- MLE epoch, fused output layer and plain path, interleaved ------------------------------------------
    torch.manual_seed(0)
    gen = make_generator(data, GeneratorConfig(emb_dim=32, hidden_dim=32), device)
    one_epoch = MLETraining(batch_size=64, lr=1e-2, max_epochs=1, patience=1)
    tokens = int(gen.mask(data.train).sum())
    epoch_flops = 6 * tokens * 32 * len(data.vocab)
    valid_flops = 2 * int(gen.mask(data.valid).sum()) * 32 * len(data.vocab)

    plain = PlainOutputGenerator(len(data.vocab), data.max_len, gen.cfg, gen.eos_id, gen.pad_id).to(device)
    plain.load_state_dict(gen.state_dict())

    def epoch(on: Any = data, model: LSTMGenerator = gen) -> None:
        train_mle(model, on, one_epoch, _ctx(device), None, lambda s: {}, "perf")

    def plain_epoch(on: Any = data) -> None:
        epoch(on, plain)

    warm = data.limited(640, 320, 320)  # first calls (allocations, kernels) outside the timings
    epoch(warm)
    plain_epoch(warm)

    times: dict[str, list[float]] = {"fused": [], "plain": [], "valid": [], "valid_plain": []}
    usage: list[tuple[float, int]] = []
    for _ in range(REPEATS):
        log("MLE epoch: fused output layer")
        r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        epoch()
        times["fused"].append(time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        usage.append((r1.ru_stime - r0.ru_stime, r1.ru_minflt - r0.ru_minflt))
        log("MLE epoch: plain output layer")
        times["plain"].append(best_seconds(plain_epoch, 1))
        times["valid"].append(best_seconds(lambda: gen.nll(data.valid), 1))
        times["valid_plain"].append(best_seconds(lambda: nll_from_logits(gen, data.valid), 1))
    best = {k: min(v) for k, v in times.items()}
    sys_s, faults = min(usage)
    cfg = "V 5000, 32x32, L 20, batch 64"
    rows.append(("MLE epoch (10k, incl. validation)", cfg, best["fused"], epoch_flops + valid_flops, "mle_epoch"))
    rows.append(("  same, plain output layer (A/B)", cfg, best["plain"], epoch_flops + valid_flops, ""))
    rows.append(("validation NLL (5k)", cfg, best["valid"], valid_flops, "validation"))
    rows.append(("  same, plain output layer (A/B)", cfg, best["valid_plain"], valid_flops, ""))

    # --- the same epoch as ``make bench`` runs it: the small generator on one thread (a bench worker's) -------
    log("MLE epoch: small profile's generator on one thread")
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    small = make_generator(data, GeneratorConfig(emb_dim=64, hidden_dim=64, dropout=0.5), device)
    small_cfg = MLETraining(batch_size=64, lr=5e-3, max_epochs=1, patience=1)
    small_epoch = lambda on=data: train_mle(small, on, small_cfg, _ctx(device), None, lambda s: {}, "perf")  # noqa: E731
    try:
        torch.set_num_threads(1)
        small_epoch(warm)
        small_time = best_seconds(small_epoch, REPEATS)
    finally:
        torch.set_num_threads(threads)

    # --- SeqGAN adversarial generator step and discriminator round (paper sizes) --------------------------
    torch.manual_seed(0)
    cls = MODELS.get("seqgan")
    model = cls(cls.config_for("paper"), data, device)
    ctx = _ctx(device)
    log("SeqGAN: adversarial generator steps")
    counter = itertools.count()
    step = lambda: model.adversarial_step(ctx, next(counter))  # noqa: E731
    step()  # warm-up
    adv, b, length = model.config.adversarial, model.config.adversarial.batch_size, data.max_len
    v, hidden = len(data.vocab), model.config.generator.hidden_dim
    rolled = adv.rollouts * b * length * (length - 1) // 2  # tokens sampled by the roll-out policy
    scored = (length - 1) * adv.rollouts * b + b  # completions and sentences the discriminator scores
    g_flops = (
        2 * hidden * v * (rolled + b * length) + scored * cnn_flops(model.disc, length) + 6 * hidden * v * b * length
    )
    g_time = best_seconds(step, REPEATS)
    rows.append(
        ("SeqGAN generator step", "sample 64, 19 prefixes x 16 roll-outs, paper CNN", g_time, g_flops, "g_step")
    )

    d_cfg = DiscTraining(rounds=1, epochs=1, samples=NEGATIVES, batch_size=64, lr=1e-4)

    def d_round() -> None:
        train_discriminator(
            model.discriminator_loss, model.d_opt, model.disc, model.negatives, data.train, d_cfg,
            RoundsProgress(), ctx, lambda: {}, "perf-d",
        )  # fmt: skip

    log("SeqGAN: discriminator round")
    d_time = best_seconds(d_round, REPEATS)
    d_flops = 2 * hidden * v * NEGATIVES * length + 3 * 2 * NEGATIVES * cnn_flops(model.disc, length)
    rows.append(("discriminator round", "10k negatives + 1 epoch of 10k + 10k", d_time, d_flops, "d_round"))

    on_onednn = ops.PRIVATE_OPS and device.type == "cpu"
    lines = [
        f"Phases of the speed issue on {data.name} ({device}, {torch.get_num_threads()} threads; best of {REPEATS}); "
        f"matmul ceiling measured now: {peak / 1e9:.1f} GFLOP/s (output layer's shapes), fp32 peak "
        f"{square / 1e9:.1f} GFLOP/s (square 2,048 matmul; {'oneDNN' if on_onednn else 'torch'}"
        f"), torch.mm's {torch_mm / 1e9:.1f} GFLOP/s",
        f"  {'phase':<36}{'configuration':<50}{'seconds':>9}{'GFLOP':>8}{'of ceiling':>12}{'of peak':>9}"
        f"{'goal':>7}{'peer':>7}{'vs peer':>9}",
    ]
    for name, conf, sec, flops, key in rows:
        goal = f"{GOAL[key]:.1f}" if key in GOAL else ""
        theirs, ratio = peer_cells(peer, key, sec)
        lines.append(
            f"  {name:<36}{conf:<50}{sec:>9.3f}{flops / 1e9:>8.1f}{flops / peak / sec:>11.0%}"
            f"{flops / square / sec:>9.0%}{goal:>7}{theirs:>7}{ratio:>9}"
        )
    lines += [
        f"  MLE epoch as make bench runs it (small profile: 64 x 64, dropout 0.5, batch 64; one thread, as each "
        f"bench worker): {small_time:.3f}s incl. validation",
        f"  MLE epoch A/B: fused / plain = {best['fused'] / best['plain']:.2f}; validation fused / plain = "
        f"{best['valid'] / best['valid_plain']:.2f}",
        f"  glibc allocator: {memory.status}; one fused MLE epoch: {sys_s:.2f}s system time, {faults} minor page "
        "faults (LANGGAN_MALLOC=default for the figures without the tuning)",
        peer_note(peer),
    ]
    return lines

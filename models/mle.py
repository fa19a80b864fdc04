"""MLE: the baseline every GAN must beat. Teacher forcing, cross-entropy, Adam, gradient clipping, early
stopping on the validation NLL (the weights of the best epoch are kept); the loop is ``train_mle``, which the
GANs' pre-training and the metrics' LMs share."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

import torch

from langgan_bench.datasets.base import Dataset
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator
from langgan_bench.models.training.base import Model, TrainContext, TrainSummary, make_generator
from langgan_bench.models.training.mle import MLEConfig, MLEProgress, MLETraining, train_mle


class MLE(Model):
    """Maximum-likelihood LSTM language model (teacher forcing)."""

    name = "mle"
    profiles: ClassVar[dict[str, MLEConfig]] = {
        "tiny": MLEConfig(GeneratorConfig(emb_dim=16, hidden_dim=32, dropout=0.2), MLETraining(max_epochs=3)),
        # picked on the validation NLL of oracle-seqgan within ~3 CPU minutes (7.55 after 30 epochs; the
        # oracle-sized 32x32 without dropout overfits after 3 epochs at 7.71)
        "small": MLEConfig(
            GeneratorConfig(emb_dim=64, hidden_dim=64, dropout=0.5), MLETraining(lr=5e-3, max_epochs=30)
        ),
        # "Language GANs Falling Short", synthetic MLE baseline selected on NLL_test (oracle_eval.py):
        # 2 layers, hidden 128, variational dropout 0.6, batch 256, Adam lr 1e-3, up to 300 epochs, clip 10.
        "paper": MLEConfig(
            GeneratorConfig(emb_dim=128, hidden_dim=128, num_layers=2, dropout=0.6),
            MLETraining(batch_size=256, lr=1e-3, grad_clip=10.0, max_epochs=300, patience=20),
        ),
    }

    def __init__(self, config: MLEConfig, dataset: Dataset, device: torch.device) -> None:
        super().__init__(config, dataset, device)
        self._gen = make_generator(dataset, config.generator, device)

    @property
    def generator(self) -> LSTMGenerator:
        return self._gen

    def fit(self, dataset: Dataset, ctx: TrainContext) -> TrainSummary:
        resumed = ctx.restore()
        part = None
        if resumed is not None:
            self._gen.load_state_dict(resumed["generator"])
            part = {**resumed["mle"], "progress": MLEProgress(**resumed["mle"]["progress"])}

        def snapshot(phase: dict[str, Any]) -> dict[str, Any]:
            return {"generator": self._gen.state_dict(), "mle": {**phase, "progress": asdict(phase["progress"])}}

        ps = train_mle(self._gen, dataset, self.config.training, ctx, part, snapshot)
        history, phase = ps.record("mle")
        return TrainSummary(
            epochs=ps.epoch,
            steps=ctx.steps,
            best_epoch=ps.best_epoch,
            best_valid_nll=ps.best_valid,
            train_seconds=ps.elapsed,
            history=history,
            phases=[phase],
        )

"""Profiles: how big a benchmark run is. A smaller profile shrinks sizes and budgets, never the algorithm.

Model sizes and training budgets per profile live next to each model (``Config.for_profile``); this file
holds what the harness itself shrinks: how much data is used and how many samples are scored.
"""

from __future__ import annotations

from dataclasses import dataclass

from langgan_bench.core.decoders import DecoderGrid
from langgan_bench.core.registry import Registry

#: The default softmax-temperature grid; 0 means greedy decoding (used where a metric allows it).
DEFAULT_TEMPERATURES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
#: The baseline every GAN is judged against at matched diversity (see verdicts.py).
BASELINE_MODEL = "mle"
#: Extra temperatures of the baseline's sweep: the matched-diversity verdicts never extrapolate, so MLE's
#: curve must reach past the GANs' diversity range at both ends. Adversarial training lowers a generator's
#: entropy (a GAN at T behaves like MLE at a lower T), so a GAN at T = 0.5 needs MLE below 0.5; an undertrained
#: GAN (ScratchGAN's small budget) spreads its mass wider than MLE at T = 2, so MLE also goes to 3.
BASELINE_EXTRA_TEMPERATURES: tuple[float, ...] = (0.3, 0.4, 3.0)
#: The default leaderboard (``make bench``): these models on these datasets, these seeds.
DEFAULT_MODELS = ("mle", "seqgan", "rankgan", "leakgan", "scratchgan")
DEFAULT_DATASETS = ("oracle", "coco")
DEFAULT_SEEDS = (0, 1, 2)
#: Each decoder's default knobs (``--decoders beam`` takes these; ``small``'s), three a decoder so that
#: ``make bench`` keeps its time budget. top_k and top_p span tight to mild truncation on both a 5,000-word
#: oracle and COCO's ~4,700 words; gen_reject's thresholds are mean log-probabilities in nats, which depend on
#: the dataset (an MLE's own samples average roughly minus its NLL_test: near -7.7 on oracle, -3 to -4 on COCO),
#: so the grid holds both ranges (a threshold out of reach costs one batch: ``decoding.reject``); disc_reject's
#: are D(x).
DECODER_GRIDS: DecoderGrid = (
    ("top_k", (10.0, 100.0, 1000.0)),
    ("top_p", (0.5, 0.8, 0.95)),
    ("beam", (1.0, 2.0, 4.0)),
    ("gen_reject", (-8.0, -7.5, -7.0, -4.0, -3.5, -3.0)),
    ("disc_reject", (0.2, 0.5, 0.8)),
)
#: The decoders beside the temperature the baseline sweeps by default in ``small`` and ``paper`` (the others
#: by ``--decoders``): the two every text-generation user reaches for.
BASELINE_DECODERS = ("top_k", "top_p")
#: Profile settings that change which points are swept, not what is trained or how a point is scored: not part
#: of a run's id.
SWEEP_ONLY = ("temperatures", "baseline_extra_temperatures", "decoder_grids", "baseline_decoders")


@dataclass(frozen=True)
class Profile:
    """Sizes the harness uses for one benchmark run (data limits are first-N slices, recorded in signatures)."""

    name: str
    description: str
    train_limit: int | None  # None: the whole split
    valid_limit: int | None
    test_limit: int | None
    eval_samples: int  # sentences drawn from a model at each temperature
    # the costly metrics use the first N of those samples: FED embeds them, the reverse LM trains on them
    fed_samples: int
    reverse_lm_samples: int
    # generated (and as many real) sentences of each probe of a GAN's training history (models/training/template.py)
    probe_samples: int
    temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES
    baseline_extra_temperatures: tuple[float, ...] = BASELINE_EXTRA_TEMPERATURES
    decoder_grids: DecoderGrid = DECODER_GRIDS
    baseline_decoders: tuple[str, ...] = BASELINE_DECODERS

    def temperatures_for(self, model: str) -> tuple[float, ...]:
        """The sweep of ``model``: the grid, plus the baseline's extra temperatures for the baseline."""
        extra = self.baseline_extra_temperatures if model == BASELINE_MODEL else ()
        return tuple(sorted({*self.temperatures, *extra}))

    def grid_of(self, decoder: str) -> tuple[float, ...]:
        """The profile's default knobs of ``decoder``."""
        return dict(self.decoder_grids)[decoder]

    def decoders_for(self, model: str) -> DecoderGrid:
        """The decoders beside the temperature that ``model`` is swept with by default: the baseline's
        (``baseline_decoders``, at this profile's grids); none for the other models."""
        names = self.baseline_decoders if model == BASELINE_MODEL else ()
        return tuple((name, self.grid_of(name)) for name in names)

    def resolve_decoders(self, asked: DecoderGrid | None, model: str) -> DecoderGrid:
        """``--decoders`` as given (a decoder without knobs takes this profile's grid), or the default."""
        if asked is None:
            return self.decoders_for(model)
        return tuple((name, knobs or self.grid_of(name)) for name, knobs in asked)


PROFILES: Registry[Profile] = Registry("profile")

for _p in (
    Profile(
        name="tiny",
        description="tests: every model trains and evaluates in seconds on one CPU core",
        train_limit=2000,
        valid_limit=500,
        test_limit=1000,
        eval_samples=500,
        fed_samples=200,
        reverse_lm_samples=500,
        probe_samples=64,
        # short grids, and no decoder beside the temperature by default: the suite's many tiny runs stay fast
        decoder_grids=(
            ("top_k", (5.0, 50.0)),
            ("top_p", (0.6, 0.9)),
            ("beam", (1.0, 2.0)),
            ("gen_reject", (-9.0, -4.0)),
            ("disc_reject", (0.3, 0.7)),
        ),
        baseline_decoders=(),
    ),
    Profile(
        name="small",
        description="the CPU default of `make bench`: the default leaderboard (3 seeds) in about 45 minutes on 2 cores",
        train_limit=None,
        valid_limit=None,
        test_limit=None,
        eval_samples=5000,
        fed_samples=1000,
        reverse_lm_samples=1000,
        probe_samples=256,
    ),
    Profile(
        name="paper",
        description="the papers' sizes and budgets; meant for a GPU",
        train_limit=None,
        valid_limit=None,
        test_limit=None,
        eval_samples=10000,
        fed_samples=10000,
        reverse_lm_samples=10000,
        probe_samples=256,
        decoder_grids=(
            ("top_k", (5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)),
            ("top_p", (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)),
            ("beam", (1.0, 2.0, 3.0, 5.0, 10.0)),
            ("gen_reject", (-8.0, -7.5, -7.0, -6.0, -5.0, -4.0, -3.5, -3.0, -2.5)),
            ("disc_reject", (0.1, 0.3, 0.5, 0.7, 0.9)),
        ),
    ),
):
    PROFILES.add(_p.name, _p)

"""One colour per model, the same in every figure (quality–diversity planes, training curves, the site).

The palette is Okabe and Ito's ("Color Universal Design", 2008): eight colours that stay distinct under the
common colour-vision deficiencies and in greyscale by lightness. The registered models have fixed colours (MLE,
the baseline, in orange: the verdicts' frontier); any other label (a model from another package, a model with
``--set`` overrides) gets one of the remaining colours by a stable hash of its name, so it keeps its colour
from one figure, report or site to the next.
"""

from __future__ import annotations

import zlib

#: Okabe–Ito, by name (yellow is kept for last: it reads poorly on white).
OKABE_ITO = {
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "black": "#000000",
}
#: The oracle (the true distribution on synthetic data) is drawn in black, as a star, in every figure.
ORACLE_COLOUR = OKABE_ITO["black"]
MODEL_COLOURS = {
    "mle": OKABE_ITO["orange"],
    "seqgan": OKABE_ITO["blue"],
    "rankgan": OKABE_ITO["bluish green"],
    "leakgan": OKABE_ITO["vermillion"],
    "scratchgan": OKABE_ITO["reddish purple"],
    "maligan": OKABE_ITO["sky blue"],
    "relgan": "#8C6D1F",  # Okabe–Ito's yellow darkened to read on white (a dark ochre)
}
#: Colours for other labels: Okabe–Ito's, then greys, none equal to a registered model's.
_OTHERS = (OKABE_ITO["yellow"], "#666666", "#999999", "#332288", "#882255", "#44AA99")


def model_colour(model: str) -> str:
    """The colour of ``model`` (a model label as the result rows name it) in every figure."""
    if model == "oracle":
        return ORACLE_COLOUR
    if model in MODEL_COLOURS:
        return MODEL_COLOURS[model]
    return _OTHERS[zlib.crc32(model.encode("utf-8")) % len(_OTHERS)]

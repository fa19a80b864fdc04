import pytest

from langgan_bench.core.errors import UserError
from langgan_bench.core.profiles import PROFILES
from langgan_bench.core.registry import Registry
from langgan_bench.datasets import DATASETS
from langgan_bench.metrics import METRICS
from langgan_bench.models import MODELS


def test_duplicate_name_is_an_error():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(2)


def test_unknown_name_suggests_the_close_one():
    reg: Registry[int] = Registry("model")
    for name in ("seqgan", "rankgan", "mle"):
        reg.add(name, 0)
    with pytest.raises(UserError, match=r"unknown model 'seqgna' \(did you mean 'seqgan'\?\); known: mle, rankgan"):
        reg.get("seqgna")
    with pytest.raises(UserError) as e:
        reg.get("zzz")
    assert "did you mean" not in str(e.value)


def test_everything_issue_two_needs_is_registered():
    assert {"mle"} <= set(MODELS)
    assert {"oracle", "oracle-seqgan"} <= set(DATASETS)
    assert {"nll_oracle", "nll_test"} <= set(METRICS)
    assert PROFILES.names() == ["paper", "small", "tiny"]
    for model in MODELS:
        for profile in PROFILES:
            assert MODELS.get(model).config_for(profile) is not None

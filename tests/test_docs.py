"""The guide's complete minimal GAN (docs/adding_a_model.md) is real code: it meets the model contract."""

from __future__ import annotations

import re
import sys
import types

from langgan_bench import testing
from langgan_bench.models.base import Model

from .conftest import REPO


def test_the_guides_minimal_gan_meets_the_contract(tmp_path, monkeypatch):
    guide = (REPO / "docs" / "adding_a_model.md").read_text()
    section = guide[guide.index("## A complete minimal GAN") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 40 <= len(code.splitlines()) <= 100  # "a complete minimal GAN (~60 lines)"
    module = types.ModuleType("reinforcegan")
    monkeypatch.setitem(sys.modules, "reinforcegan", module)  # dataclasses look their module up
    exec(compile(code, "docs/adding_a_model.md", "exec"), module.__dict__)
    cls = module.ReinforceGAN
    assert issubclass(cls, Model)
    testing.check_model(cls, tmp_path)

"""The docs are true to the code: the guide's complete minimal GAN (docs/adding_a_model.md) meets the model
contract; the README stays a guide (short, the two commands, the sections a newcomer reads first) whose links,
layout and command list match the tree; measured figures and dates stay out of the code (docs/performance.md)."""

from __future__ import annotations

import re
import sys
import types

from langgan_bench import cli, testing
from langgan_bench.models.training.base import Model

from .conftest import REPO

DOCS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]


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


def test_the_readme_is_a_guide():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert "make bench" in text and "make test" in text
    sections = re.findall(r"^## (.+)$", text, re.M)
    for needed in ("Two commands on a fresh clone", "What you get", "Layout", "Reading a verdict", "Adding a model"):
        assert needed in sections, needed
    assert not re.search(r"20\d\d-[01]\d-[0-3]\d", text), "dated figures belong in docs/performance.md"


def test_every_relative_link_of_the_docs_resolves():
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


def test_the_readme_layout_names_what_is_there():
    text = (REPO / "README.md").read_text()
    tree = text[text.index("## Layout") :]
    tree = tree[tree.index("```") + 3 : tree.index("```", tree.index("```") + 3)]
    folder = None
    for line in tree.splitlines():
        parts = re.split(r"\s{2,}", line.strip())  # a name, then what it is; or a row of names
        if not parts[0]:
            continue
        names = parts if all(" " not in p for p in parts) else parts[:1]
        if line.startswith("  "):  # inside the last top-level folder
            assert folder is not None and (folder / names[0]).exists(), line
            continue
        for name in names:
            assert (REPO / name).exists(), name
        folder = REPO / names[0]


def test_the_readme_lists_the_cli_commands():
    text = (REPO / "README.md").read_text()
    listed = re.search(r"lists the commands \(([^)]*)\)", text).group(1)
    assert sorted(re.findall(r"`(\w+)`", listed)) == sorted(cli.cli.commands)


def test_no_dates_in_the_code():
    """Comments say why, not when or how fast (the figures are in docs/performance.md, the history in
    CHANGELOG.md): no date in any file of the package."""
    for path in [p for folder in ("benchmark", "models", "metrics") for p in (REPO / folder).rglob("*.py")]:
        dated = re.search(r"20\d\d-[01]\d-[0-3]\d", path.read_text())
        assert dated is None, f"{path.relative_to(REPO)}: {dated.group(0)}"

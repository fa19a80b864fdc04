"""report.html and the site, as a reader opens them: in headless Chromium (tests/browser.py drives it over the
DevTools protocol). Each page renders, logs no console error, makes no network request (only its own files
and inlined figures), loads every figure at its own size with alt text, and a click on a column header
sorts its table; with scripts off the same tables are there. Screenshots of what a reader sees first are
saved (into $LANGGAN_SCREENSHOTS when set). Skipped, saying so, where no Chromium is installed (Debian:
``apt-get install chromium``; ``make test`` installs it when it can)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from langgan_bench.analysis.report import build_report
from langgan_bench.analysis.site import build_site
from tests.browser import Browser, find_chromium
from tests.fake_results import GRID, gan_history, mle_history, nll_curve, write_record, write_run

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless Chromium (Debian: apt-get install chromium, or `make test` as root; LANGGAN_CHROMIUM "
    "names another): report.html and the site were not checked in a browser",
)
WIDTH, HEIGHT = 1280, 900

FIGURES = """Array.from(document.images).map(i => ({alt: i.getAttribute('alt'), complete: i.complete,
  natural: i.naturalWidth, shown: i.getBoundingClientRect().width, src: i.getAttribute('src').slice(0, 40)}))"""
TABLES = """Array.from(document.querySelectorAll('table.sortable')).map(t =>
  Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.textContent.trim())))"""


def sort_key(text: str) -> tuple[int, float | str]:
    """The page script's order: a cell's leading number (parseFloat), else its text in lower case, after numbers."""
    m = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text)
    return (0, float(m.group(0))) if m else (1, text.lower())


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A results folder (MLE, SeqGAN and RankGAN, two seeds, with histories and samples), its report, and a site."""
    root = tmp_path_factory.mktemp("browser")
    results = root / "results"
    for s in (0, 1):
        for model, curve, history in (
            ("mle", nll_curve(), mle_history),
            ("seqgan", nll_curve(worse=0.3), gan_history),
            ("rankgan", nll_curve(worse=0.1, noise=0.05), gan_history),
        ):
            write_run(results, model, s, curve, temperatures=GRID)
            run = write_record(results, model, s, *history(s)).parent
            (run / "samples").mkdir()
            (run / "samples" / "T1.txt").write_text("a man rides a horse .\na <b>bold</b> cat\n")
    build_report(results)
    build_site([results], root / "site")
    return root


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM is not None
    with Browser(CHROMIUM, WIDTH, HEIGHT) as b:
        yield b


def _shots() -> Path | None:
    folder = os.environ.get("LANGGAN_SCREENSHOTS")
    return Path(folder) if folder else None


@pytest.mark.parametrize(
    ("page", "title"),
    [
        ("results/report/report.html", "langgan-bench report"),
        ("site/index.html", "langgan-bench leaderboard"),
        ("site/oracle-tiny.html", "oracle — profile tiny"),
        ("site/oracle-tiny-seqgan.html", "seqgan on oracle — profile tiny"),
    ],
)
def test_a_page_renders_loads_its_figures_and_sorts_its_tables(pages, browser, page, title, tmp_path):
    path = pages / page
    tab = browser.page()
    tab.open(path.as_uri())

    assert tab.evaluate("document.querySelector('h1').textContent") == title
    assert tab.evaluate("document.body.innerText.length") > 500
    assert tab.evaluate("document.documentElement.scrollWidth") <= WIDTH  # nothing wider than the window

    figures = tab.evaluate(FIGURES)
    if page != "site/index.html":
        assert figures, "no figure on the page"
    for fig in figures:
        assert fig["complete"] and fig["natural"] > 0, f"figure not loaded: {fig}"
        assert fig["alt"] and fig["alt"].strip(), f"figure without alt text: {fig}"
        assert fig["shown"] >= 0.95 * fig["natural"], f"figure shrunk below its size (illegible): {fig}"

    own = path.parent.resolve().as_uri()
    for url in tab.requests:
        assert url.startswith(("data:image/png;base64,", own)), f"a request that is not the page's own: {url[:80]}"
    assert tab.problems == [], tab.problems

    shot = tmp_path / (path.stem + ".png")
    tab.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if _shots():
        _shots().mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, _shots() / f"{path.parent.name}-{shot.name}")

    tables = tab.evaluate(TABLES)
    assert tables, "no sortable table"
    # a column with at least two different values, one not yet in order if there is one: a click puts the
    # rows in its order, a second reverses it, and the rows themselves stay the same
    candidates = [
        (t, c, [sort_key(r[c]) for r in rows] != sorted(sort_key(r[c]) for r in rows))
        for t, rows in enumerate(tables) if len(rows) >= 2 for c in range(len(rows[0]))
        if len({sort_key(r[c]) for r in rows}) > 1
    ]  # fmt: skip
    assert candidates, "no table with a column to sort"
    t, c, _ = max(candidates, key=lambda x: x[2])
    before = tables[t]
    header = f"document.querySelectorAll('table.sortable')[{t}].tHead.rows[0].cells[{c}]"
    tab.evaluate(f"{header}.click()")
    ascending = tab.evaluate(TABLES)[t]
    assert tab.evaluate(f"{header}.getAttribute('aria-sort')") == "ascending"
    tab.evaluate(f"{header}.click()")
    descending = tab.evaluate(TABLES)[t]
    assert [sort_key(r[c]) for r in ascending] == sorted(sort_key(r[c]) for r in before)
    assert [sort_key(r[c]) for r in descending] == sorted((sort_key(r[c]) for r in before), reverse=True)
    assert before != ascending or before != descending  # reordered
    assert sorted(ascending) == sorted(descending) == sorted(before)  # the same rows
    tab.settle()
    assert tab.problems == [], tab.problems


def test_with_scripts_off_the_tables_are_there_unsorted(pages, browser):
    tab = browser.page()
    tab.open((pages / "site" / "oracle-tiny.html").as_uri(), scripts=False)
    assert tab.call("Runtime.evaluate", {"expression": "1"})  # the protocol still answers
    html = tab.call("DOM.getOuterHTML", {"nodeId": tab.call("DOM.getDocument")["root"]["nodeId"]})["outerHTML"]
    assert html.count('<table class="sortable">') >= 3 and 'class="sorts"' not in html  # no script ran
    assert tab.problems == [], tab.problems


def test_the_checks_see_what_they_look_for(browser, tmp_path):
    """The checks above would fail on a broken page: a console error, an exception, an external request and a
    figure that does not load are all caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><html><body><h1>broken</h1><img alt='gone' src='missing.png'>"
        "<img alt='remote' src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    tab = browser.page()
    tab.open(page.as_uri())
    assert any("console.error: boom" in p for p in tab.problems)
    assert any("undefinedFunction" in p for p in tab.problems)
    assert any("missing.png" in p for p in tab.problems)
    assert "http://127.0.0.1:9/x.png" in tab.requests
    figures = tab.evaluate(FIGURES)
    assert [f["natural"] for f in figures] == [0, 0]

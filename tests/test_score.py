"""`langgan-bench score` end to end on a slice of the shared data."""

import json

from langgan_bench.datasets.text import read_lines, tokenize
from langgan_bench.metrics.bleu import bleu, self_bleu

from .conftest import cli, cli_here


def test_score_json_matches_the_python_api(tmp_path, data_dir):
    lines = read_lines(data_dir / "image_coco" / "image_coco.txt")[:200]
    path = tmp_path / "samples.txt"
    path.write_text("\n".join(lines) + "\n")
    proc = cli(
        "score",
        "--dataset",
        "coco",
        "--samples",
        str(path),
        "--metrics",
        "bleu,self_bleu",
        "--data-dir",
        str(data_dir),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["metric"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {f"{m}-{n}" for m in ("bleu", "self_bleu") for n in (2, 3, 4, 5)}
    hyps = tokenize(lines, "13a")
    refs = tokenize(read_lines(data_dir / "image_coco" / "test_coco.txt"), "13a")
    assert rows["bleu-4"]["value"] == bleu(hypotheses=hyps, references=refs)[4]
    assert rows["self_bleu-3"]["value"] == self_bleu(hypotheses=hyps)[3]
    assert rows["bleu-4"]["n_samples"] == 200 and "tok:13a" in rows["bleu-4"]["signature"]
    assert "refs:coco@" in rows["bleu-4"]["signature"] and ":test:10000|" in rows["bleu-4"]["signature"]


def test_score_bad_input(tmp_path, data_dir):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a dog\n\xff\n")
    cases = [
        (("--samples", str(bad)), "line 2 is not valid UTF-8"),
        (("--samples", str(tmp_path / "missing.txt")), "cannot read"),
        (("--samples", str(bad), "--metrics", "bleuu"), "unknown metric 'bleuu' (did you mean 'bleu'?)"),
    ]
    good = tmp_path / "good.txt"
    good.write_text("a dog runs .\na cat sits .\n")
    cases.append((("--samples", str(good), "--metrics", "nll_test"), "cannot score a file"))
    for args, message in cases:
        proc = cli_here("score", "--dataset", "coco", "--data-dir", str(data_dir), *args)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

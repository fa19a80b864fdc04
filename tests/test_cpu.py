"""The CPU facts the kernels size their blocks by (caches from the OS), and the instruction-set restriction
``make perf --isa avx2`` relies on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from langgan_bench.kernels import cpu, sampling, softmax_nll


def fake_sysfs(root: Path, entries: list[tuple[int, str, str, str]]) -> Path:
    """A sysfs cache folder: (level, type, size, shared_cpu_list) per index."""
    for i, (level, kind, size, shared) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
        (d / "shared_cpu_list").write_text(f"{shared}\n")
    return root


def test_caches_from_sysfs_count_l3_per_core(tmp_path):
    # an AMD EPYC Zen 3 guest: 32 KiB L1d, 512 KiB L2, a 32 MiB L3 shared by CPUs 0-1
    root = fake_sysfs(
        tmp_path,
        [(1, "Data", "32K", "0"), (1, "Instruction", "32K", "0"), (2, "Unified", "512K", "0"),
         (3, "Unified", "32768K", "0-1")],
    )  # fmt: skip
    c = cpu.read_caches(root)
    assert c == cpu.Caches(l1d=32 << 10, l2=512 << 10, l3=16 << 20, source="sysfs")
    # the blocks follow the caches: the L2-sized training block and the L3 shares
    assert cpu.block_bytes("l2", 0.8, c) == int(0.8 * (512 << 10))
    assert cpu.block_bytes("l3", 1 / 3, c) == (16 << 20) // 3
    assert cpu.block_bytes("l2", 1e-9, c) == 64 << 10  # never below 64 KiB


@pytest.mark.parametrize("shared, count", [("0", 1), ("0-3", 4), ("0,2,4-7", 6)])
def test_shared_cpu_lists(shared, count):
    assert cpu._sharing(shared) == count


def test_unreadable_or_partial_sysfs_is_none(tmp_path):
    assert cpu.read_caches(tmp_path / "missing") is None
    assert cpu.read_caches(fake_sysfs(tmp_path / "l3only", [(3, "Unified", "8M", "0")])) is None
    assert cpu.read_caches(fake_sysfs(tmp_path / "odd", [(1, "Data", "lots", "0"), (2, "Unified", "1M", "0")])) is None


def test_this_machines_blocks_come_from_its_caches():
    c = cpu.caches()
    assert c.l1d > 0 and c.l2 >= c.l1d and c.l3 > 0
    assert cpu.block_bytes("l2", 0.8) == softmax_nll.TRAIN_BLOCK_BYTES
    assert cpu.block_bytes("l3", 1 / 3) == softmax_nll.BLOCK_BYTES
    assert cpu.block_bytes("l3", 1 / 6) == sampling.PICK_BLOCK_BYTES


@pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512") or not torch.backends.mkldnn.is_available(),
    reason="needs an x86 CPU with AVX2 and oneDNN",
)
def test_avx2_restriction_takes_effect_in_a_fresh_process():
    restricted = cpu.isa_report(dict(os.environ, **cpu.ISA_ENV["avx2"]))
    assert restricted["torch"] == "AVX2"
    assert "AVX2" in restricted["onednn"] and "512" not in restricted["onednn"]
    assert restricted["mkl"] in ("AVX2", "unknown") or restricted["mkl"].startswith(
        "generic"
    )  # MKL reports itself only where torch's products use it


def test_machine_lines_name_the_cpu_isa_caches_and_threads():
    lines = cpu.machine_lines()
    assert lines[0].startswith("CPU: ") and f"on {torch.get_num_threads()} threads" in lines[0]
    # the native report (a fresh process with this one's environment) finds this process' own setting
    assert f"instruction sets in use: torch {torch.backends.cpu.get_cpu_capability()}, " in lines[1]
    assert "oneDNN" in lines[1]
    assert "L2" in lines[2] and "KiB" in lines[2]


def test_a_runs_cpu_facts_name_its_instruction_set_and_restrictions(monkeypatch):
    for name in cpu.ISA_ENV["avx2"]:
        monkeypatch.delenv(name, raising=False)
    facts = cpu.run_facts()
    assert facts["torch_isa"] == torch.backends.cpu.get_cpu_capability() and facts["restrictions"] == {}
    assert facts["model"] == cpu.cpu_model() and facts["caches"] == cpu.caches().describe()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # oneDNN reads it at its first product: recorded as set
    assert cpu.run_facts()["restrictions"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}


@pytest.mark.parametrize("isa", ["avx512", ",", "native,sse"])
def test_perf_refuses_an_unknown_isa_in_one_line(isa, capsys):
    from langgan_bench import cli

    try:
        code = cli.main(["perf", "--isa", isa])
    except SystemExit as e:
        code = int(e.code or 0)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "name one or more of native, avx2" in err

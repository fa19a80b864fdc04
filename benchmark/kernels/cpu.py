"""What the CPU at hand offers the kernels: its caches (from the OS) and the instruction sets torch, oneDNN and
MKL use on it. Block sizes come from these, never from one machine's constants (``block_bytes``).

``caches()`` reads Linux's sysfs (``/sys/devices/system/cpu/cpu0/cache``), then ``os.sysconf``; the plain
path, where the OS reports nothing, is ``FALLBACK``. L3 is counted per core (its size over the CPUs that
share it), since each of ``make bench``'s workers has one core and the others fill the rest.

The instruction sets can be restricted for a whole process (``ISA_ENV``, e.g. to see an AVX-512 machine run
as an AVX2-only one); ``isa_report()`` asks a fresh process with the current environment which sets took
effect, as oneDNN fixes its own at its first product and reports it once.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")


@dataclass(frozen=True)
class Caches:
    """Data-cache bytes available to one core at each level, and where the figures came from."""

    l1d: int
    l2: int
    l3: int
    source: str

    def describe(self) -> str:
        return f"L1d {self.l1d >> 10} KiB, L2 {self.l2 >> 10} KiB, L3 {self.l3 >> 20} MiB a core ({self.source})"


#: where the OS reports no caches: the machine the kernels' blocks were first measured on (docs/performance.md)
FALLBACK = Caches(l1d=48 << 10, l2=1280 << 10, l3=24 << 20, source="fallback: not reported by the OS")


def _size(text: str) -> int:
    """Bytes of a sysfs size ("48K", "1280K", "32M", "1024")."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)\s*", text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def _sharing(cpu_list: str) -> int:
    """The number of CPUs in a sysfs list ("0-1", "0,2,4-7")."""
    count = 0
    for part in cpu_list.strip().split(","):
        a, _, b = part.partition("-")
        count += int(b or a) - int(a) + 1
    return max(count, 1)


def read_caches(root: Path = SYSFS) -> Caches | None:
    """The caches sysfs reports under ``root`` (unified or data caches only), or None."""
    found: dict[int, int] = {}
    try:
        for index in sorted(root.glob("index*")):
            if (index / "type").read_text().strip() not in ("Data", "Unified"):
                continue
            level = int((index / "level").read_text())
            shared = _sharing((index / "shared_cpu_list").read_text()) if level == 3 else 1
            found[level] = _size((index / "size").read_text()) // shared
    except (OSError, ValueError):
        return None
    if not {1, 2} <= found.keys():
        return None
    return Caches(l1d=found[1], l2=found[2], l3=found.get(3, found[2]), source="sysfs")


def _sysconf_caches() -> Caches | None:
    try:
        l1, l2, l3 = (os.sysconf(f"SC_LEVEL{k}_{'D' if k == 1 else ''}CACHE_SIZE") for k in (1, 2, 3))
    except (ValueError, OSError, AttributeError):
        return None
    if l1 <= 0 or l2 <= 0:
        return None
    return Caches(l1d=l1, l2=l2, l3=l3 // max(os.cpu_count() or 1, 1) if l3 > 0 else l2, source="sysconf")


@functools.lru_cache(maxsize=1)
def caches() -> Caches:
    """This CPU's caches a core: sysfs, else sysconf, else ``FALLBACK``."""
    return read_caches() or _sysconf_caches() or FALLBACK


def block_bytes(level: str, fraction: float, at: Caches | None = None) -> int:
    """``fraction`` of one core's cache at ``level`` ("l2" or "l3"), at least 64 KiB: the bytes a kernel's
    block of rows may take so that it is still in that cache when it is read again."""
    c = at or caches()
    return max(64 << 10, int(getattr(c, level) * fraction))


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


#: the environment that restricts a process to an instruction set: oneDNN's, PyTorch's own kernels', MKL's
ISA_ENV: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}

_PROBE = """
import torch
x = torch.randn(4, 8)
torch.mm(x, x.t())
if torch.backends.mkldnn.is_available():
    torch.ops.mkldnn._linear_pointwise(x, torch.randn(5, 8), torch.zeros(5), "none", [], "")
print("torch-capability:" + torch.backends.cpu.get_cpu_capability(), flush=True)
"""


def isa_report(env: dict[str, str] | None = None) -> dict[str, str]:
    """The instruction sets a fresh process with ``env`` (default: this one's) uses: torch's own kernels'
    (``torch``), oneDNN's (``onednn``, from its verbose start-up line) and MKL's (``mkl``)."""
    run_env = dict(os.environ if env is None else env, ONEDNN_VERBOSE="1", MKL_VERBOSE="1")
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PROBE], env=run_env, capture_output=True, text=True, timeout=120
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"torch": "unknown", "onednn": "unknown", "mkl": "unknown"}
    found = {"torch": "unknown", "onednn": "unknown", "mkl": "unknown"}
    for line in out.splitlines():
        if line.startswith("torch-capability:"):
            found["torch"] = line.split(":", 1)[1]
        elif line.startswith("onednn_verbose") and ",isa:" in line:
            found["onednn"] = line.split(",isa:", 1)[1].strip()
        elif line.startswith("MKL_VERBOSE") and "Intel(R)" in line and found["mkl"] == "unknown":
            m = re.search(r"\(Intel\(R\) (AVX[-\w]*|SSE[\w.]*)\)", line)  # "... (Intel(R) AVX2) ..."
            # on a CPU that is not Intel's, MKL names no instruction set and takes its generic kernels
            found["mkl"] = m.group(1) if m else "generic (no Intel ISA named)"
    return found


def run_facts() -> dict[str, object]:
    """What a run's record keeps of the CPU it ran on, read in this process without a probe: the model, the
    caches the blocks were sized from, torch's instruction set, and any restriction variable set (``ISA_ENV``).
    A float result depends on them: the instruction set decides a product's sums, the caches a scoring block's
    size, and the run id covers neither (the same run id on another machine is another measurement of it)."""
    import torch

    restricted = sorted({k for env in ISA_ENV.values() for k in env})
    return {
        "model": cpu_model(),
        "torch_isa": torch.backends.cpu.get_cpu_capability(),
        "restrictions": {k: os.environ[k] for k in restricted if k in os.environ},
        "caches": caches().describe(),
    }


def machine_lines(env: dict[str, str] | None = None) -> list[str]:
    """``make perf``'s first lines: the CPU, the instruction sets in use, the caches and the thread count."""
    import torch

    isa = isa_report(env)
    return [
        f"CPU: {cpu_model()}; {os.cpu_count()} CPUs, torch {torch.__version__} on {torch.get_num_threads()} threads",
        f"  instruction sets in use: torch {isa['torch']}, oneDNN {isa['onednn']}, MKL {isa['mkl']}",
        f"  caches: {caches().describe()}",
    ]

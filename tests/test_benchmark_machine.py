"""benchmarks/_machine.py: the CPU line printed beside every benchmark figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# loaded by path, so the benchmarks folder (tasks.py, nb201.py ...) never shadows other imports
_spec = importlib.util.spec_from_file_location("_bench_machine", Path(__file__).resolve().parents[1] / "benchmarks" / "_machine.py")
_machine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_machine)
cpu_info, describe = _machine.cpu_info, _machine.describe

ZEN1 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx fma avx2\n\nprocessor\t: 1\nflags\t\t: avx512f\n"
SAPPHIRE = "processor\t: 0\ncpu family\t: 6\nmodel\t\t: 143\nmodel name\t: Intel Xeon\nflags\t\t: avx2 fma avx512f avx512_vnni amx_int8\n"


def test_reads_the_first_processor_block_only():
    info = cpu_info(ZEN1)
    assert (info["model_name"], info["family"], info["model"]) == ("AMD EPYC", "23", "1")
    assert info["simd"] == ["avx2", "fma"]  # the second block's avx512f is not this CPU's first core
    assert describe(info).endswith("avx2 fma, no VNNI")


def test_names_vnni_and_amx_when_present():
    line = describe(cpu_info(SAPPHIRE))
    assert "family 6, model 143" in line and "avx512_vnni amx_int8" in line and line.endswith(", VNNI")


def test_without_cpuinfo_still_describes_the_machine():
    info = cpu_info("")
    assert info["family"] is None and info["simd"] == [] and "no AVX2" in describe(info)

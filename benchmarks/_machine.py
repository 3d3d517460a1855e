"""Which CPU produced a benchmark figure: model name, family/model numbers and the SIMD features
that decide whether int8 pays (AVX2, AVX-512, VNNI, AMX).

Shared hosts differ from one day to the next. On an AMD EPYC of family 23, model 1 (Zen 1, AVX2
without VNNI) onnxruntime's dynamic int8 ran no faster than fp32 for MiniLM, while an earlier host
gave 1.56x in the same code, so every int8 figure is printed with this line.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: the /proc/cpuinfo flags that matter for onnxruntime's fp32 and int8 kernels
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_info(cpuinfo: str | None = None) -> dict[str, object]:
    """Model name, vendor family/model and SIMD flags from ``/proc/cpuinfo`` (``cpuinfo``: its text, for tests)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.is_file() else ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {
        "model_name": fields.get("model name") or platform.processor() or platform.machine(),
        "family": fields.get("cpu family"),
        "model": fields.get("model"),
        "simd": [f for f in SIMD_FLAGS if f in flags],
        "cores": os.cpu_count(),
    }


def describe(info: dict[str, object] | None = None) -> str:
    """One line: ``AMD EPYC (family 23, model 1), 2 cores, avx2 fma, no VNNI``."""
    info = info or cpu_info()
    simd = list(info["simd"])  # type: ignore[arg-type]
    numbers = f" (family {info['family']}, model {info['model']})" if info.get("family") else ""
    vnni = "VNNI" if any("vnni" in f for f in simd) else "no VNNI"
    return f"{info['model_name']}{numbers}, {info['cores']} cores, {' '.join(simd) or 'no AVX2'}, {vnni}"

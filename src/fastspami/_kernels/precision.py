"""Which precision the layers' dense products run in: float32, or bfloat16 where the hardware
multiplies bfloat16 natively.

bfloat16 keeps float32's exponent range with an 8-bit significand, so products of bfloat16
matrices accumulated in float32 (as oneDNN, MKL and cuBLAS do) lose no range, only digits.
Natively, x86 CPUs multiply it with AVX512-BF16 (AMD Zen 4 and later, Intel Cooper Lake)
or AMX (Intel Sapphire Rapids and later), Arm cores with the BF16 extension (Neoverse
V1/N2, Graviton 3), and NVIDIA GPUs from Ampere (compute capability 8.0) on. Elsewhere
oneDNN and cuBLAS emulate it, slower than float32, so there SpaMI trains in float32.

Detection, on the CPU: torch's oneDNN must run bfloat16 (``torch.ops.mkldnn.
_is_mkldnn_bf16_supported()``: oneDNN's bf16 kernels, which it also offers where it can
only emulate them on AVX-512) and the CPU must list a native instruction set in
/proc/cpuinfo: ``avx512_bf16`` or ``amx_bf16`` among the x86 ``flags``, ``bf16`` among the
Arm ``Features``. On CUDA: ``torch.cuda.is_bf16_supported(including_emulation=False)``.
"""

from __future__ import annotations

import logging
from functools import cache

import torch

from fastspami._kernels.dense import cpu_info

log = logging.getLogger(__name__)

PRECISIONS = ("float32", "bf16")
DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16}
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 /proc/cpuinfo flags
ARM_BF16_FEATURE = "bf16"  # Arm /proc/cpuinfo Features


@cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (see the module docstring) and torch's
    oneDNN runs bfloat16 products."""
    flags = set(cpu_info("flags").split()) | set(cpu_info("Features").split())
    native = any(flag in flags for flag in NATIVE_BF16_FLAGS) or ARM_BF16_FEATURE in flags
    if not native:
        return False
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):
        return False


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively."""
    if device.type == "cuda":
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # a torch before 2.3 has no including_emulation
            return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision training runs in for the requested one on ``device``: 'bf16' only where
    :func:`bf16_supported`, else 'float32' with a warning that says why."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" and not bf16_supported(device):
        where = (
            "this GPU has no native bfloat16 arithmetic (it needs compute capability 8.0, "
            "Ampere, or later)"
            if device.type == "cuda"
            else "this CPU has no native bfloat16 arithmetic (x86: AVX512-BF16 or AMX; "
            "Arm: the BF16 extension), or torch's oneDNN cannot run it"
        )
        log.warning("precision 'bf16' was asked for, but %s: training in float32.", where)
        return "float32"
    return precision

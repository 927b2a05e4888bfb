"""What this machine can compute with: the ``device`` and ``precision`` options, checked up front.

* ``device``: ``cpu``, ``cuda`` or ``auto`` (cuda when torch sees a GPU, else cpu). Networks,
  optimisers and gradient-step batches live on it; buffers stay in host memory. It is an execution
  detail (``benchmarks.runkey.EXECUTION_KEYS``), resolved where the run executes.
* ``precision`` of PEARL's gradient step: ``float32``, ``bfloat16`` or ``auto``. bf16 is refused
  where the hardware has no native bf16 (on an AVX2-only CPU it is emulated, ~45x slower than
  float32); ``auto`` picks bf16 only on a CPU with native bf16 and float32 otherwise. ``auto`` is
  resolved when the config is made, so a run's identity records the precision it ran at.
* threads: ``set_num_threads`` sets torch's intra-op threads and numpy's BLAS threads together.
* memory: ``reuse_freed_memory`` keeps freed tensor memory in the process for the next tensor
  (glibc's allocator), instead of handing it back to the kernel and faulting it in again.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import fields, is_dataclass, replace

import torch
from threadpoolctl import threadpool_limits

DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("float32", "bfloat16", "auto")


def set_num_threads(n: int) -> None:
    """Run this process's CPU math on ``n`` threads: torch's intra-op pool and numpy's BLAS (rollouts
    act through numpy, ``pearl.networks.NumpyPolicy``; the baselines fit their linear value baselines
    with it). Without the BLAS cap, OpenBLAS would start one thread per core for any product big
    enough, ``--jobs`` runs side by side each taking every core."""
    torch.set_num_threads(n)
    threadpool_limits(limits=n, user_api="blas")


# glibc mallopt(3) parameters
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_TRIM_THRESHOLD = 1024 * 1024 * 1024


def reuse_freed_memory() -> bool:
    """Serve every tensor from the heap and keep up to 1 GiB of freed heap in the process.

    torch's CPU tensors come from ``malloc``. glibc gives each block above its mmap threshold
    (128 KiB at first, rising with use to at most 32 MiB) its own ``mmap``, unmapped again when it
    is freed, and hands freed heap above its trim threshold back to the kernel, so activations
    page-fault their memory in again, update after update: PEARL's 4096 x 300 at the paper's sizes
    (4.9 MB, up to ~1,200 faults, ~0.8 ms on a 4.4 ms GEMM that writes one), and MAML-TRPO's at the
    paper's 40 tasks (32 MB each, above any threshold: 5.8 million faults, 10 of an iteration's 34 s
    on cheetah-vel). With mmap off (``M_MMAP_MAX`` 0) and the trim threshold high, freed blocks are
    reused. The cost: a process keeps up to 1 GiB of freed memory mapped, and its heap holds freed
    gaps (MAML-TRPO's peak resident memory there 2.1 -> 3.0 GB). Returns whether it applied (glibc on
    Linux only; elsewhere the allocator is left as it is)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def cpu_capability() -> str:
    """torch's name for this CPU's vector instruction set (``AVX2``, ``AVX512``, ...)."""
    return torch.backends.cpu.get_cpu_capability()


def cpu_has_bf16() -> bool:
    """Native bf16 matrix multiplication on this CPU (oneDNN's check: AVX-512 BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_device(device: str) -> None:
    """ValueError for an unknown device, or ``cuda`` where torch sees no GPU."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid choices: {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise ValueError(
            f"device='cuda' but torch sees no CUDA GPU on this machine (torch {torch.__version__}, "
            f"{build}); use device=cpu, or device=auto to take a GPU only where there is one"
        )


def resolve_device(device: str) -> torch.device:
    """The torch device for a checked ``device`` option."""
    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _bf16_native(device: str) -> bool:
    if resolve_device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_bf16()


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``auto`` -> ``bfloat16`` where the CPU has native bf16, else ``float32`` (on a GPU: float32,
    its 300-wide layers are not bound by float32 GEMM rate); checks what it returns."""
    if precision == "auto":
        precision = "bfloat16" if resolve_device(device).type == "cpu" and cpu_has_bf16() else "float32"
    check_precision(precision, device)
    return precision


def check_precision(precision: str, device: str = "cpu") -> None:
    """ValueError for an unknown precision, or bf16 on hardware that would only emulate it."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(PRECISIONS)}")
    if precision == "bfloat16" and not _bf16_native(device):
        where = (
            f"this GPU ({torch.cuda.get_device_name()}) has no native bf16"
            if resolve_device(device).type == "cuda"
            else f"this CPU (capability {cpu_capability()}) has no native bf16 instructions: emulated bf16 "
            "is ~45x slower than float32"
        )
        raise ValueError(
            f"precision='bfloat16' refused: {where}; use precision=float32, or precision=auto "
            "to take bf16 only where it is native"
        )


def to_device(obj, device: torch.device):
    """A dataclass of tensors (a rollout or batch record) with every tensor field moved to ``device``;
    the same object when nothing moves."""
    assert is_dataclass(obj), type(obj)
    moved = {
        f.name: getattr(obj, f.name).to(device)
        for f in fields(obj)
        if isinstance(getattr(obj, f.name), torch.Tensor) and getattr(obj, f.name).device != device
    }
    return replace(obj, **moved) if moved else obj

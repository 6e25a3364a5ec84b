"""Peak-memory measurement of one call, for the kernel's tests and benchmark.

CUDA: ``torch.cuda.max_memory_allocated`` after a reset, minus what was allocated before.
CPU: torch's CPU allocator is plain malloc, invisible to ``tracemalloc``, so we read the kernel's
resident-set high-water mark (``VmHWM``), after resetting it to the current RSS by writing ``5``
to ``/proc/self/clear_refs`` (Linux >= 4.0). Run each measurement in a fresh process with
``MALLOC_MMAP_THRESHOLD_=65536`` in its environment so freed tensors go back to the OS
(:data:`CPU_MEASUREMENT_ENV`); otherwise glibc keeps them cached and later calls look cheaper.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

# Environment for a child process that measures CPU peak memory faithfully (see module doc).
CPU_MEASUREMENT_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line")


def peak_memory_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Bytes by which memory use rose above its level before ``fn()``, at its peak.

    The result of ``fn`` is dropped before returning; on CPU, pages allocated but never written
    do not count (torch.empty that stays untouched), which is what the OS charges too.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as error:
        raise RuntimeError(
            "cannot reset the peak RSS through /proc/self/clear_refs (Linux only)"
        ) from error
    before = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - before) * 1024

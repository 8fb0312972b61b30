"""Memory planner for batched double-backprop jobs (SEP's explanation attack, AGA's Adv-Insertion attack,
the landscape, the regularisers' evaluation): how many items (pairs, images) to send at once.

1. **Measure** one step's memory at two small probe sizes (:func:`measure_footprint`): on CUDA the
   peak allocated bytes (``torch.cuda.max_memory_allocated`` above what was allocated before); on the
   CPU the bytes of the tensors autograd saves for the backward pass
   (``torch.autograd.graph.saved_tensors_hooks``; each storage counted once), which is what grows with
   the batch in a double-backprop step. Two sizes give a fixed part and a part per item.
2. **Plan** (:func:`plan_chunk`): the largest chunk whose ``fixed + chunk * per_item`` fits
   ``fraction`` of the free memory (:func:`free_bytes`: ``torch.cuda.mem_get_info`` on CUDA, the
   kernel's ``MemAvailable`` on the CPU).
3. **Back off** (:func:`run_chunked`): a chunk that still runs out of memory is halved and retried
   (down to one item, which then raises).

Nothing here knows what a step computes: a job passes ``step(n)``, a callable that runs one step on
its first ``n`` items.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, Iterator

import torch

__all__ = ["Footprint", "saved_tensor_bytes", "peak_bytes", "free_bytes", "measure_footprint", "plan_chunk",
           "planned_chunk", "is_out_of_memory", "run_chunked"]


@dataclasses.dataclass(frozen=True)
class Footprint:
    """Bytes one step needs: ``fixed + n * per_item`` for ``n`` items."""

    fixed: int
    per_item: int

    def bytes(self, n: int) -> int:
        return int(self.fixed + int(n) * self.per_item)


def saved_tensor_bytes(fn: Callable[[], object]) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs (each storage once). Every
    saved tensor is held until ``fn`` returns, so a freed storage's address is never reused within the
    count: the sum over the whole step, an upper bound of its peak."""
    seen: dict[tuple[int, str], int] = {}
    held: list[torch.Tensor] = []

    def pack(t: torch.Tensor):
        held.append(t)
        try:
            s = t.untyped_storage()
            seen[(s.data_ptr(), str(t.device))] = s.nbytes()
        except (RuntimeError, NotImplementedError):   # tensors without storage (e.g. some wrappers)
            seen[(id(t), str(t.device))] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    held.clear()
    return int(sum(seen.values()))


def peak_bytes(fn: Callable[[], object], device) -> int:
    """One run of ``fn()``'s memory: the CUDA peak above the memory allocated before it, or on the CPU
    the bytes autograd saved (:func:`saved_tensor_bytes`)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return int(max(torch.cuda.max_memory_allocated(device) - base, 0))
    return saved_tensor_bytes(fn)


def free_bytes(device) -> int:
    """Free memory of ``device``: CUDA ``mem_get_info``; CPU the kernel's MemAvailable (else total RAM)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def measure_footprint(step: Callable[[int], object], device, total: int, probe: tuple[int, int] = (1, 4)) -> Footprint:
    """The :class:`Footprint` of ``step(n)`` (one step on the first ``n`` items) from runs at the two
    ``probe`` sizes (capped at ``total``); one probe size: all of it per item."""
    n1, n2 = (max(1, min(int(p), int(total))) for p in probe)
    m1 = peak_bytes(lambda: step(n1), device)
    if n2 <= n1:
        return Footprint(0, max(1, math.ceil(m1 / n1)))
    m2 = peak_bytes(lambda: step(n2), device)
    per = max(1, math.ceil((m2 - m1) / (n2 - n1)))
    return Footprint(max(0, m1 - per * n1), per)


def plan_chunk(footprint: Footprint, budget: int, total: int) -> int:
    """The largest n in [1, total] with ``footprint.bytes(n) <= budget`` (1 if even one does not fit:
    then :func:`run_chunked`'s back-off is the last resort)."""
    n = (int(budget) - footprint.fixed) // max(1, footprint.per_item)
    return int(max(1, min(int(total), n)))


def planned_chunk(step: Callable[[int], object], device, total: int, fraction: float,
                  maximum: int | None = None) -> tuple[int, Footprint, int]:
    """(chunk, footprint, budget): :func:`plan_chunk` for ``fraction`` of the free memory of ``device``."""
    if not 0 < float(fraction) <= 1:
        raise ValueError(f"memory_fraction must be in (0, 1]; got {fraction}")
    fp = measure_footprint(step, device, total)
    budget = int(free_bytes(device) * float(fraction))
    cap = int(total) if maximum is None else min(int(total), int(maximum))
    return plan_chunk(fp, budget, cap), fp, budget


def is_out_of_memory(e: BaseException) -> bool:
    """A CUDA out-of-memory error, a CPU allocator failure or a MemoryError."""
    if isinstance(e, MemoryError):
        return True
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def run_chunked(fn: Callable[[int, int], object], start: int, stop: int, chunk: int,
                log: Callable[[str], None] | None = None) -> Iterator[tuple[int, int, object]]:
    """``fn(i0, i1)`` over [start, stop) in chunks of ``chunk``, yielding ``(i0, i1, result)``; a chunk
    that runs out of memory is halved and retried from the same ``i0`` (the smaller size is kept);
    out of memory at one item raises."""
    i, chunk = int(start), max(1, int(chunk))
    while i < stop:
        j = min(i + chunk, stop)
        try:
            out = fn(i, j)
        except (RuntimeError, MemoryError) as e:
            if not is_out_of_memory(e) or j - i <= 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            chunk = max(1, (j - i) // 2)
            if log:
                log(f"out of memory at {j - i} items; retrying with {chunk}")
            continue
        yield i, j, out
        i = j

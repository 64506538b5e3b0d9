"""Keep freed feature-map memory in the process, for servers that restore image after image.

A 512x512 restore with ``vlunet-tiny`` allocates and frees hundreds of feature maps of 10-75 MB.
With glibc's default settings those blocks go back to the kernel when freed (blocks above the
mmap threshold are unmapped; the heaps of non-main threads are trimmed), so every restore
page-faults its way through fresh memory again. The loss is largest in the worker threads where a
web server runs its handlers, since each gets its own malloc arena (about a fifth of a 512x512
restore; the measurement is in docs/benchmarks.md).

:func:`keep_freed_memory` tells glibc to serve every thread from the main arena, to take blocks
up to 512 MB from the heap instead of mapping them, and never to trim the heap: after the first
restore the memory is reused, at the price of the process keeping its peak memory resident.
It is called by the studio (``app.build_demo``) and the command line; a library user opts in.
"""
from __future__ import annotations

import ctypes
import os

# mallopt parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 512 << 20   # blocks up to this size come from the heap
TRIM_THRESHOLD = 2**31 - 1   # free memory kept at the top of the heap before trimming (mallopt's int maximum)

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Configure glibc malloc to reuse freed memory (see the module docstring).

    Returns True when applied (glibc), False elsewhere (macOS, musl, Windows), where nothing is
    changed. Call it early, before worker threads allocate: a thread that already has its own
    arena keeps it. Calling again does nothing more.
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version   # glibc only: mallopt elsewhere differs or is absent
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in (
        (M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)))


def resident_bytes() -> int:
    """The process's resident memory now, in bytes (Linux ``/proc/self/statm``; 0 where unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0

"""core.keep_freed_memory: a worker thread reuses freed memory instead of faulting in fresh pages."""
from __future__ import annotations

import ctypes
import resource
import sys
import threading

import pytest

import core

SIZE = 40 << 20   # above the largest default mmap threshold (32 MB), below a thread heap (64 MB)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(resource, "RUSAGE_THREAD"),
                    reason="glibc and per-thread fault counts are Linux-only")
def test_a_worker_thread_reuses_a_freed_block_without_page_faults():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    assert core.keep_freed_memory() is True and core.keep_freed_memory() is True   # glibc; idempotent
    faults = []

    def fill_twice():
        for _ in range(2):
            before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            block = libc.malloc(SIZE)
            ctypes.memset(block, 1, SIZE)
            faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
            libc.free(block)

    worker = threading.Thread(target=fill_twice)
    worker.start()
    worker.join()
    pages = SIZE // resource.getpagesize()
    # the second block is the first one again, already resident (without the setting: `pages` faults)
    assert faults[1] < pages // 100, faults

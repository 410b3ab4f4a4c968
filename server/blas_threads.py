"""OpenBLAS's idle worker threads, told to sleep soon after a call.

OpenBLAS's worker threads spin (sched_yield in a loop) for 2**28 cycles, about 0.1 s, after every
threaded BLAS call before they sleep: measured, a server that answered one 16 MiB convolution then
burned 70-100 ms of a core while idle, and a same-host client's next 1 ms kernel took 7 ms on the
core left. 2**20 cycles (under 0.5 ms) keeps the threads hot between the GEMMs of one call and lets
them sleep after it. OpenBLAS reads the setting once, when NumPy loads it, so ``sleep_soon()`` is
called before anything imports NumPy (bnns-server's cli.py, the benchmark package); an operator's
own OPENBLAS_THREAD_TIMEOUT wins. This module imports nothing that loads NumPy.
"""

from __future__ import annotations

import os

SPIN_CYCLES_LOG2 = "20"     # OPENBLAS_THREAD_TIMEOUT: the threads spin 2**this cycles, then sleep


def sleep_soon() -> None:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", SPIN_CYCLES_LOG2)

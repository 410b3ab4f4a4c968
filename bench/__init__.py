"""Benchmarks (not tests): `python -m bench.<name>` prints a table and writes bench/results/<name>.json.

The benchmark processes are clients of servers on the same host and run kernels of their own
interleaved with them (and with PyTorch): like `bnns-server` (server/cli.py), they let OpenBLAS's
idle worker threads sleep after about 2^20 cycles instead of spinning about 0.1 s after every
threaded BLAS call, which would take a core from whatever runs next. OpenBLAS reads the setting
when NumPy loads it, so it is made here, before any benchmark module imports NumPy; the
environment's own setting wins.
"""

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")

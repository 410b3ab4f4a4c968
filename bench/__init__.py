"""Benchmarks (not tests): `python -m bench.<name>` prints a table and writes bench/results/<name>.json.

The benchmark processes are clients of servers on the same host and run kernels of their own
interleaved with them (and with PyTorch): like `bnns-server`, they let OpenBLAS's idle worker
threads sleep soon instead of spinning about 0.1 s after every threaded BLAS call, which would take
a core from whatever runs next (server/blas_threads.py). Done here, before any benchmark module
imports NumPy.
"""

from bnns.server import blas_threads

blas_threads.sleep_soon()

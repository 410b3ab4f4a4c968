"""Timing, the machine's same-run ceilings, and table/JSON output shared by the benchmarks.

Medians of repeated runs after a warm-up; every ratio is against a ceiling measured in the same
process and run, since these 2-core machines are noisy (peer.md: medians move by +-10% between
runs, more for 1-5 ms ops).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pathlib
import platform
import statistics
import time
from typing import Callable, Optional

import numpy as np

from bnns.server.process import ServerProcess   # noqa: F401  (the benchmarks' server)
from bnns.server.tuning import keep_freed_memory

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def setup() -> None:
    """The same process tuning the server applies at start-up; prints the BLAS in use (every
    GEMM-bound figure depends on it)."""
    keep_freed_memory()
    print(blas_line())


def time_ms(fn: Callable[[], object], min_repeats: int = 5, max_repeats: int = 40, budget_s: float = 3.0) -> dict:
    """Median/min/max wall time of fn in ms: one warm-up, then repeats until the budget is spent."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "n": len(times)}


def gemm_gflops(n: int = 1024) -> float:
    """This machine's float32 GEMM rate right now (NumPy's BLAS on every core: OpenBLAS's thread
    setting is process-wide, and the kernels' pool sets it to one once it has run)."""
    from bnns.kernels import blas, parallel
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    with blas.threads(parallel.cpus()):
        return 2 * n ** 3 / (time_ms(lambda: a @ b, min_repeats=20, budget_s=2.0)["median_ms"] * 1e6)


@functools.lru_cache(maxsize=1)
def blas_info() -> dict:
    """NumPy's BLAS as threadpoolctl reports it: library, version, the kernel set ("architecture":
    OpenBLAS's choice for this CPU, e.g. Haswell = AVX2, SkylakeX = AVX-512) and threads, plus
    whether the CPU has AVX-512 and OPENBLAS_CORETYPE when it forces the choice. "unknown" for
    what cannot be found (threadpoolctl is the optional `bench` extra: pip install -e ".[bench]").
    Read once, at the benchmark's start (setup): the kernels' pool later sets OpenBLAS to one
    thread for the whole process (kernels/blas.py pin_one_thread)."""
    info: dict[str, object] = {"library": "unknown", "version": "unknown", "architecture": "unknown", "threads": "unknown"}
    try:
        import threadpoolctl
        pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        pools = []
    if pools:
        pool = pools[0]
        info.update(library=pool.get("internal_api", "unknown"), version=pool.get("version") or "unknown",
                    architecture=pool.get("architecture") or "unknown", threads=pool.get("num_threads", "unknown"))
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
        info["cpu_avx512"] = all(features.get(f) for f in ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL"))
    except ImportError:
        info["cpu_avx512"] = "unknown"
    info["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return info


def blas_line() -> str:
    """blas_info in one printed line."""
    i = blas_info()
    avx512 = {True: "the CPU has AVX-512", False: "no AVX-512"}.get(i["cpu_avx512"], "AVX-512 unknown")
    return (f"BLAS: {i['library']} {i['version']}, architecture {i['architecture']}, {i['threads']} threads "
            f"(OPENBLAS_CORETYPE {i['OPENBLAS_CORETYPE']}; {avx512})")


def copy_gbps(mib: int = 256) -> float:
    """Memory copy rate into an existing buffer (read + write bytes / s)."""
    src = np.ones(mib << 18, np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / (time_ms(lambda: np.copyto(dst, src), min_repeats=10, budget_s=2.0)["median_ms"] * 1e6)


def torch_or_none(wait_policy: str = "PASSIVE"):
    """PyTorch with all cores, or None. By default its OpenMP threads are made to sleep when idle
    (OMP_WAIT_POLICY=PASSIVE, set before torch loads, unless the caller set it): spinning threads
    would otherwise steal the cores from the NumPy calls timed between PyTorch's. A benchmark
    that times all of ours before any of PyTorch's may pass "ACTIVE" (PyTorch's fastest setting
    for tiny tensors, where waking sleeping threads costs more than the work)."""
    os.environ.setdefault("OMP_WAIT_POLICY", wait_policy)
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        return torch
    except ImportError:
        return None


def print_table(title: str, rows: list[dict], columns: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    header = "| " + " | ".join(label for _, label in columns) + " |"
    print(header)
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key, "")
            cells.append(f"{value:.2f}" if isinstance(value, float) else str(value))
        print("| " + " | ".join(cells) + " |")


def write_json(name: str, payload: dict) -> pathlib.Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "numpy": np.__version__, "blas": blas_info()}, **payload}
    path.write_text(json.dumps(payload, indent=2))
    return path


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.2f}x" if a and b else ""


def time_pair(ours: Callable[[], object], theirs: Optional[Callable[[], object]], min_repeats: int = 5,
              max_repeats: int = 40, budget_s: float = 3.0) -> tuple[dict, Optional[dict]]:
    """time_ms of ours and of theirs (None: ours alone), interleaved call by call so that both
    see the same machine (other jobs on these shared cores come and go); one warm-up each."""
    if theirs is None:
        return time_ms(ours, min_repeats, max_repeats, budget_s), None
    ours()
    theirs()
    a: list[float] = []
    b: list[float] = []
    start = time.perf_counter()
    while len(a) < max_repeats and (len(a) < min_repeats or time.perf_counter() - start < 2 * budget_s):
        for fn, times in ((ours, a), (theirs, b)):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    summary = lambda t: {"median_ms": statistics.median(t), "min_ms": min(t), "max_ms": max(t), "n": len(t)}
    return summary(a), summary(b)


def hygiene(interleaved: bool = True) -> str:
    """How a table's PyTorch column was timed (printed under each table)."""
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    if interleaved:
        return (f"Timing: ours and PyTorch's calls interleaved in the same run, medians; OMP_WAIT_POLICY={policy} "
                "for both sides.")
    return (f"Timing: all of ours first, then PyTorch's, in the same run, medians; OMP_WAIT_POLICY={policy} "
            "(PyTorch's threads spin between its calls, so nothing of ours is timed after them).")


def time_specs(specs: list, budget_s: float) -> None:
    """Time each spec's "numpy" callable and its "torch" factory's callable (when PyTorch is
    importable) interleaved (time_pair). Adds "time" (time_ms's dict) and "torch_ms" to each spec."""
    torch = torch_or_none()
    for spec in specs:
        theirs = spec["torch"](torch) if torch is not None else None
        spec["time"], their_time = time_pair(spec["numpy"], theirs, budget_s=budget_s)
        if their_time is not None:
            spec["torch_ms"] = their_time["median_ms"]


def memory_rows(specs: list, copy_rate: float, gemm_rate: Optional[float] = None) -> list:
    """Table rows for memory-bound specs: effective GB/s (spec["mb"] of compulsory traffic) against
    the same-run copy rate, GFLOP/s against the GEMM rate for specs with a "gflop", PyTorch beside."""
    rows = []
    for spec in specs:
        t = spec["time"]
        rate = spec["mb"] / t["median_ms"]          # MB/ms = GB/s
        torch_ms = spec.get("torch_ms")
        row = {"case": spec["case"], "op": spec["op"], "median_ms": t["median_ms"], "min_ms": t["min_ms"],
               "mb": spec["mb"], "gbps": rate, "of_copy": f"{rate / copy_rate:.0%}", "torch_ms": torch_ms or "",
               "vs_torch": ratio(t["median_ms"], torch_ms)}
        if gemm_rate is not None:
            row["gflops"] = spec["gflop"] / t["median_ms"] * 1e3 if "gflop" in spec else ""
            row["of_gemm"] = f"{row['gflops'] / gemm_rate:.0%}" if "gflop" in spec else ""
        rows.append(row)
    return rows


@contextlib.contextmanager
def kernel_clock(record: Callable[[float], None]):
    """While the block runs, every call of a kernel entry point the digits step uses (the filters'
    apply and apply_backward, the optimizer step) passes its wall time in seconds to record()."""
    from bnns.kernels import convolution, loss, normalization, optimizer, pooling
    targets = [(cls, name) for cls in (convolution.ConvolutionFilter, convolution.FullyConnectedFilter,
                                       normalization.NormalizationFilter, pooling.PoolingFilter, loss.LossFilter)
               for name in ("apply", "apply_backward")] + [(optimizer, "optimizer_step")]
    originals = [(owner, name, getattr(owner, name)) for owner, name in targets]

    def timed(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                record(time.perf_counter() - start)
        return wrapper

    for owner, name, original in originals:
        setattr(owner, name, timed(original))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)

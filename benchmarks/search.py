"""Search speed and memory: ``exact`` and ``hamming`` next to faiss flat and a NumPy brute force.

    python benchmarks/search.py                          # 10,000 queries x 1,000,000 gallery (slow)
    python benchmarks/search.py --queries 1000 --gallery 100000   # a quick check

The goal (issue 15): ``exact`` at least as fast as faiss-cpu's IndexFlatIP and ``hamming`` at
least as fast as IndexBinaryFlat (both as faiss ships them, default settings), with bench's
deterministic tie order and memory bounded by blocks. "vs faiss" is that ratio, from the fastest
of --repeats runs of each, taken in interleaved rounds (a shared machine only ever adds time).

Each method runs in its own process on the same seeded data (float: d=128 Gaussian; binary:
64-bit codes), so that its peak memory is its own: "peak MB" is the growth of the resident set
during search over what the process held before it (data and built index). The NumPy brute force
holds a whole (queries x gallery) score block, so it runs on a subsample of queries, in chunks
that fit --numpy-budget-mb, and its speed is extrapolated from that subsample.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
METHODS = {  # name: (kind, baseline of its kind)
    "numpy-float": ("float", "numpy-float"),
    "exact": ("float", "numpy-float"),
    "faiss-flat-ip": ("float", "numpy-float"),
    "numpy-hamming": ("binary", "numpy-hamming"),
    "hamming": ("binary", "numpy-hamming"),
    "faiss-binary-flat": ("binary", "numpy-hamming"),
}
FAISS_OF = {"float": "faiss-flat-ip", "binary": "faiss-binary-flat"}


def make_data(kind: str, n_queries: int, n_gallery: int, dim: int, bits: int, seed: int):
    rng = np.random.default_rng(seed)
    if kind == "float":
        return rng.standard_normal((n_queries, dim), dtype=np.float32), rng.standard_normal(
            (n_gallery, dim), dtype=np.float32
        )
    return (
        np.where(rng.random((n, bits), dtype=np.float32) < 0.5, -1, 1).astype(np.float32)
        for n in (n_queries, n_gallery)
    )


def numpy_brute_float(queries, gallery, k, chunk):
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ gallery.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)


def numpy_brute_hamming(queries, gallery, k, chunk):
    q, g = (np.packbits(x > 0, axis=1) for x in (queries, gallery))
    for start in range(0, len(q), chunk):
        dist = np.bitwise_count(q[start : start + chunk, None, :] ^ g[None, :, :]).sum(axis=2, dtype=np.uint16)
        top = np.argpartition(dist, k - 1, axis=1)[:, :k]
        np.take_along_axis(top, np.argsort(np.take_along_axis(dist, top, 1), axis=1), 1)


def worker(args) -> dict:
    """Build and time one method in this process; returns its measurements."""
    sys.path.insert(0, str(ROOT))
    kind = METHODS[args.worker][0]
    queries, gallery = make_data(kind, args.queries, args.gallery, args.dim, args.bits, args.seed)
    note = ""
    if args.worker.startswith("numpy"):
        chunk = max(1, args.numpy_budget_mb * 2**20 // (args.gallery * 16))
        queries = queries[: min(len(queries), max(chunk, args.numpy_queries))]
        brute = numpy_brute_float if kind == "float" else numpy_brute_hamming
        search = lambda: brute(queries, gallery, args.k, chunk)
        note = f"{len(queries)} queries timed, {chunk} per chunk"
    elif args.worker == "exact":
        from plugins.indexers.exact import ExactIndex

        index = ExactIndex(metric="ip").build(gallery)
        search = lambda: index.search(queries, args.k)
    elif args.worker == "hamming":
        from plugins.indexers.hamming import HammingIndex

        index = HammingIndex().build(gallery)
        search = lambda: index.search(queries, args.k)
    else:
        import faiss

        if kind == "float":
            index = faiss.IndexFlatIP(args.dim)
            index.add(gallery)
            search = lambda: index.search(queries, args.k)
        else:
            index = faiss.IndexBinaryFlat(args.bits)
            index.add(np.packbits(gallery > 0, axis=1))
            packed = np.packbits(queries > 0, axis=1)
            search = lambda: index.search(packed, args.k)
    before = _reset_peak()
    start = time.perf_counter()
    search()
    seconds = time.perf_counter() - start
    return {"method": args.worker, "kind": kind, "timed": len(queries), "seconds": seconds,
            "peak_mb": max(0.0, _peak_mb() - before), "note": note}  # fmt: skip


def _reset_peak() -> float:
    """Reset the kernel's peak-RSS counter (Linux) and return the current RSS in MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status("VmRSS")


def _peak_mb() -> float:
    peak = _status("VmHWM")
    if peak:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--gallery", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of: " + ", ".join(METHODS))
    parser.add_argument("--numpy-queries", type=int, default=500, help="queries the NumPy brute force times")
    parser.add_argument("--numpy-budget-mb", type=int, default=1024, help="score block the NumPy brute force may hold")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of bench's and faiss's methods")
    parser.add_argument("--worker", choices=list(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{args.queries:,} queries x {args.gallery:,} gallery, k={args.k}; "
        f"float d={args.dim}, binary {args.bits} bits; {os.cpu_count()} CPUs, load average {load:.1f} at start"
    )
    results: dict[str, dict] = {}
    methods = args.methods.split(",")
    for round_ in range(args.repeats):  # rounds interleave the methods: a slow spell hits them alike
        for method in methods:
            if round_ and (method.startswith("numpy") or method not in results):
                continue  # the NumPy references run once
            argv = [sys.executable, __file__, "--worker", method, *sys.argv[1:]]
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{method}: failed\n{done.stderr.strip()}")
                continue
            run = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"  round {round_ + 1}, {method}: {run['seconds']:.2f} s", flush=True)
            best = results.get(method)
            if best is None or run["seconds"] < best["seconds"]:
                results[method] = {**run, "qps": run["timed"] / run["seconds"]}
    header = (
        f"{'method':<18} {'kind':<7} {'queries/s':>11} {'ms/query':>9} {'peak MB':>8} {'vs NumPy':>9} "
        f"{'vs faiss':>9}  note"
    )
    print(header + "\n" + "-" * len(header))
    for method, r in results.items():
        base = results.get(METHODS[method][1])
        faiss_base = results.get(FAISS_OF[r["kind"]])
        ratio = f"{r['qps'] / base['qps']:.2f}x" if base else "-"
        vs_faiss = f"{r['qps'] / faiss_base['qps']:.2f}x" if faiss_base else "-"
        print(
            f"{method:<18} {r['kind']:<7} {r['qps']:>11,.0f} {1000 / r['qps']:>9.3f} "
            f"{r['peak_mb']:>8.0f} {ratio:>9} {vs_faiss:>9}  {r['note']}"
        )
    print("NumPy brute force: a subsample of queries in chunks (the full score matrix would not fit); "
          "its speed is extrapolated.")  # fmt: skip
    print(f"bench and faiss: the fastest of {args.repeats} interleaved runs each (this machine's speed varies).")


if __name__ == "__main__":
    main()

"""Measured speed: ours vs. the naive equivalent, side by side in one run, plus load time.

Usage: `.venv/bin/python bench/run.py [--quick]` (or `make bench`). Prints plain-text tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import drift
import feature_store
import features
import load_time
import pandas as pd
import polars as pl
import sensors
import training
import validation
from common import PEAK_METHOD_MAXRSS, PEAK_METHOD_RESET, can_reset_peak

FULL_SIZES = (38, 380, 3800)  # consumer types; 2 price areas give 76, 760 and 7,600 segments
QUICK_SIZES = (38, 380)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="76 and 760 segments only, features up to ~1M rows, 3 load-time runs, "
        "no `dagster definitions validate`",
    )
    args = parser.parse_args()
    started = time.perf_counter()

    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    repeats = 3
    peak = PEAK_METHOD_RESET if can_reset_peak() else PEAK_METHOD_MAXRSS
    print(
        f"mlops-assets benchmarks{' (--quick)' if args.quick else ''}: "
        f"Python {platform.python_version()}, polars {pl.__version__} "
        f"({pl.thread_pool_size()} threads), pandas {pd.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"
    )
    print(f"Times: best of {repeats} (time.perf_counter) after a warm-up; ratio = naive / ours.")
    print(
        f"Peak MiB: {peak}, in a fresh process per implementation and case, after imports, "
        "input loading and a warm-up on a 48-row day; it counts polars/Arrow native memory too."
    )
    print(validation.run(sizes, repeats, with_week=True))
    print(features.run(quick=args.quick))
    print(load_time.run(repeats=3 if args.quick else 5, with_validate=not args.quick))
    print(feature_store.run(quick=args.quick))
    print(training.run(quick=args.quick))
    print(drift.run(quick=args.quick))
    print(sensors.run(quick=args.quick))
    print(f"\nTotal bench time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

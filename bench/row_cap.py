"""Benchmark: what MLOPS_TRAINING_MAX_ROWS costs and saves (issue 13).

The candidate run's XGBoost family fitted on every training row against a seeded uniform sample of
at most N rows (`families.select(..., max_rows=N)`; validation and test never sampled), on the
generated 12-week frame of bench/forecast_quality.py split as the training job splits it (7
validation days, 7 test days). Prints time, rounds and test/validation WAPE side by side.

    python bench/row_cap.py [--consumer-types 380] [--caps 0 600000 300000 150000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from common import banner, table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumer-types", type=int, default=380, help="per price area")
    parser.add_argument("--start", default="2025-01-06", help="first UTC day of the 12 weeks")
    parser.add_argument("--caps", type=int, nargs="+", default=[0, 600_000, 300_000, 150_000])
    args = parser.parse_args(argv)

    import forecast_quality as fq

    from mlops_assets.lib import families
    from mlops_assets.lib import forecasting as fc

    case = fq.Case("row cap", "generated", args.start, n_consumer_types=args.consumer_types)
    consumption, weather, start, end, calendar, source = fq.generated_inputs(case)
    split = fc.time_split(fq.labelled_frame(consumption, weather, start, end, calendar), 7, 7)
    print(banner(f"Row cap: {source}"))
    print(f"Command: python {' '.join(sys.argv)}")
    print(f"{split.train.height:,} training rows; caps {args.caps} (0: every row)\n", flush=True)
    rows, full = [], None
    for cap in args.caps:
        started = time.perf_counter()
        selection = families.select(split, fc.BoosterParams(), 7, ["xgboost"], max_rows=cap)
        seconds = time.perf_counter() - started
        test = fc.evaluate_all(split.test, {"m": selection.forecaster.predict(split.test)})["m"]
        wape = test.overall["wape"]
        full = full if full is not None else (seconds, wape)
        rows.append(
            [
                cap or "all",
                min(cap or split.train.height, split.train.height),
                selection.fit.best_iteration if selection.fit else "",
                f"{seconds:.1f}",
                f"{seconds / full[0]:.2f}",
                f"{selection.candidates[0].validation.overall['wape']:.3f}",
                f"{wape:.3f}",
                f"{(wape / full[1] - 1) * 100:+.1f} %",
            ]
        )
        print(f"  cap {cap or 'all'}: {seconds:.1f}s", file=sys.stderr, flush=True)
    header = ["cap", "fit rows", "rounds", "s", "s / first", "val WAPE %", "test WAPE %"]
    print(table([*header, "test vs first"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

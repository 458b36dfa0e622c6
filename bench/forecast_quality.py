"""Benchmark: out-of-sample backtest of the day-ahead forecaster against the naive forecasts.

Issue 11: on generated data and on real public load series (bench/real_series.py).

Every series is backtested alike: 12 weeks of UTC days (plus the features' look-back before them
where the series has it), 8 weeks of history then 4 test weeks, the model refit every week on all
days before it (`backtest.rolling_origin(frame, 4)`: validation week chooses the family, then
refit), each day forecast from its 00:00 UTC origin and scored with the baselines on its rows.
Real series get no weather (an empty frame: serving never has observed temperature).

    python bench/forecast_quality.py [--quick] [--start DATE ...] [--seed N] [--only CASE ...]
    python bench/forecast_quality.py --csv FILE [--timezone TZ]

Each case runs in a fresh process (`--case JSON`) that times itself and measures its peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from common import PEAK_METHOD_MAXRSS, PEAK_METHOD_RESET, banner, can_reset_peak, table

WEEKS = 4  # test weeks
HISTORY_WEEKS = 8  # before the first test week
WINDOW_DAYS = 7 * (WEEKS + HISTORY_WEEKS)
FORECASTERS = ("model", "seasonal_naive", "weekday_naive", "same_hour_yesterday")
SHORT = {
    "model": "model",
    "seasonal_naive": "sn",
    "weekday_naive": "wn",
    "same_hour_yesterday": "shy",
}
# The issue's targets. Generated: the model's WAPE or MAPE at most 0.6x seasonal naive's. Real:
# the model's MAPE at least 15 % below seasonal naive's and below weekday naive's.
GENERATED_RATIO = 0.6
REAL_MAPE_RATIO = 0.85

GENERATED_STARTS = (date(2025, 1, 6), date(2025, 6, 2))  # Mondays: winter (the default), summer
# Consumer types; 2 price areas give 76 and 760 segments. Every size on the first window, the
# smallest on the others: a 760-segment backtest takes over ten minutes on 2 cores.
GENERATED_SIZES = (38, 380)
TAYLOR_TIMEZONE = "Europe/London"
VIC_ELEC_TIMEZONE = "Australia/Melbourne"
VIC_ELEC_WINDOWS = 6  # the newest 12 weeks and every 26 weeks before, over 2012-2014
VIC_ELEC_STEP_DAYS = 26 * 7
# A UTC day of a real series counts as whole when this many hours are observed: Taylor's last
# London day ends at 22:00 UTC in summer time.
MIN_DAY_HOURS = 20


@dataclass(frozen=True)
class Case:
    """One backtest: which series, which 12 weeks, which calendar. Crosses a process as JSON."""

    label: str
    kind: str  # "generated", "real" (a series of bench/real_series.py) or "csv"
    start: str = ""  # generated: the first UTC day of the 12 weeks
    n_consumer_types: int = 38
    seed: int = 42
    series: str = ""  # real: the series' name; csv: the file
    timezone: str = "UTC"  # the calendar's (and a CSV's offset-less timestamps')
    last_day: str = ""  # real and csv: the last UTC day of the 12 weeks; "" for the newest whole
    group: str = ""  # cases pooled in the summary (vic_elec's windows)


# --- one case, in a fresh process -----------------------------------------------------------------


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def labelled_frame(
    consumption: Any, weather: Any, start: datetime, end: datetime, calendar: Any
) -> Any:
    """Feature rows of [start, end) joined with their staged label, as the training set is."""
    import polars as pl

    from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP, build_features

    features = build_features(consumption, weather, start, end, calendar)
    labels = consumption.select(
        pl.col("segment_id").alias(ENTITY),
        pl.col("hour_utc").dt.replace_time_zone("UTC").alias(TIMESTAMP),
        pl.col(LABEL),
    )
    return features.join(labels, on=[ENTITY, TIMESTAMP])


def generated_inputs(case: Case) -> tuple[Any, Any, datetime, datetime, Any, str]:
    """Staged consumption (with the look-back), generated day-ahead weather forecasts, window."""
    from mlops_assets.lib.features import DANISH, staged_window
    from mlops_assets.lib.generator import (
        GeneratorConfig,
        generate_consumption,
        generate_weather_forecast,
    )
    from mlops_assets.lib.staging import stage_consumption, stage_weather_forecast

    config = GeneratorConfig(seed=case.seed, n_consumer_types=case.n_consumer_types)
    start = _utc_midnight(date.fromisoformat(case.start))
    end = start + timedelta(days=WINDOW_DAYS)
    history_start, _ = staged_window(start, end)
    consumption = stage_consumption(generate_consumption(history_start, end, config))
    weather = stage_weather_forecast(generate_weather_forecast(start, end, config))
    source = (
        f"generator seed {case.seed}, {case.n_consumer_types} consumer types x "
        f"{len(config.price_areas)} price areas; generated day-ahead temperature forecasts; "
        "Danish calendar"
    )
    return consumption, weather, start, end, DANISH, source


def generated_bound(case: Case) -> dict[str, float]:
    """The best forecast of the case's test weeks anyone can make: the generator's own formula
    without its noise, fed the newest temperature forecast issued by each day's 00:00 UTC origin.
    Scored with seasonal naive on every test hour of every segment (the model's test rows)."""
    import numpy as np
    import polars as pl

    from mlops_assets.lib import schema
    from mlops_assets.lib.generator import (
        GeneratorConfig,
        expected_consumption,
        generate_consumption,
        generate_weather_forecast,
    )

    config = GeneratorConfig(seed=case.seed, n_consumer_types=case.n_consumer_types)
    test_start = _utc_midnight(date.fromisoformat(case.start)) + timedelta(weeks=HISTORY_WEEKS)
    end = test_start + timedelta(weeks=WEEKS)
    week = timedelta(weeks=1)
    actual = generate_consumption(test_start - week, end, config)
    shape = (-1, len(config.price_areas), config.n_consumer_types)
    values = actual.get_column(schema.TOTAL_CON).to_numpy().reshape(shape)
    issued = (
        generate_weather_forecast(test_start, end, config)
        .filter(pl.col(schema.ISSUE_UTC) <= pl.col(schema.HOUR_UTC).dt.truncate("1d"))
        .sort(schema.ISSUE_UTC)
        .group_by(schema.HOUR_UTC, schema.PRICE_AREA)
        .last()
        .sort(schema.HOUR_UTC, schema.PRICE_AREA)
    )
    temperature = issued.get_column(schema.TEMPERATURE).to_numpy().reshape(shape[:2])
    bound = expected_consumption(test_start, end, temperature, config)
    hours_in_week = 7 * 24
    truth, seasonal = values[hours_in_week:], values[:-hours_in_week]

    def scores(forecast: Any) -> tuple[float, float]:
        error = np.abs(forecast - truth)
        return 100 * error.sum() / truth.sum(), 100 * float(np.mean(error / truth))

    (wape, mape), (sn_wape, sn_mape) = scores(bound), scores(seasonal)
    return {"wape": wape, "mape": mape, "wape/sn": wape / sn_wape, "mape/sn": mape / sn_mape}


def newest_whole_day(hourly: Any) -> date:
    """The newest UTC day with at least MIN_DAY_HOURS observed hours."""
    import polars as pl
    import real_series as rs

    days = (
        hourly.filter(pl.col(rs.VALUE).is_not_null())
        .group_by(pl.col(rs.HOUR).dt.date().alias("day"))
        .len()
        .filter(pl.col("len") >= MIN_DAY_HOURS)
    )
    if days.is_empty():
        raise ValueError(f"no UTC day has {MIN_DAY_HOURS} observed hours: nothing to backtest")
    return days.get_column("day").max()  # type: ignore[return-value]


def real_inputs(case: Case) -> tuple[Any, Any, datetime, datetime, Any, str]:
    """A real series as staged consumption, an empty weather frame, its window and calendar."""
    import polars as pl
    import real_series as rs

    from mlops_assets.lib.features import Calendar

    if case.kind == "csv":
        hourly = rs.load_csv(case.series, tz=case.timezone)
        source = f"{case.series} (load_csv, offset-less times in {case.timezone})"
    else:
        hourly = rs.load(case.series)
        meta = rs.SERIES[case.series]
        source = f"{meta.title}; {meta.package}=={meta.version}"
    last = date.fromisoformat(case.last_day) if case.last_day else newest_whole_day(hourly)
    end = _utc_midnight(last + timedelta(days=1))
    start = end - timedelta(days=WINDOW_DAYS)
    observed = hourly.filter(
        pl.col(rs.HOUR) < end.replace(tzinfo=None), pl.col(rs.VALUE).is_not_null()
    )
    if observed.is_empty() or observed.get_column(rs.HOUR).min() > start.replace(tzinfo=None):
        first = observed.get_column(rs.HOUR).min() if observed.height else None
        raise ValueError(
            f"{case.label}: the series starts at {first} UTC, after the window's first day "
            f"{start:%Y-%m-%d}; it needs {WINDOW_DAYS} days ({HISTORY_WEEKS} weeks of history "
            f"and {WEEKS} test weeks) ending {last}"
        )
    consumption, weather = rs.as_staged(observed)
    marked = [] if case.kind == "csv" else rs.holidays(case.series, case.timezone)
    calendar = Calendar(timezone=case.timezone, holidays=holiday_mask(marked))
    source += f"; no weather; calendar {case.timezone}, " + (
        f"{len(marked)} published holidays" if marked else "no holidays"
    )
    return consumption, weather, start, end, calendar, source


def holiday_mask(days: Sequence[date]) -> Any:
    """A Calendar's holiday test for a list of local dates (None when there are none)."""
    if not days:
        return None
    import numpy as np

    marked = np.array(days, dtype="datetime64[D]")
    return lambda dates: np.isin(dates, marked)


def _rows(frame: Any) -> list[dict[str, Any]]:
    return json.loads(json.dumps(frame.to_dicts(), default=str))


def lib_digest() -> str:
    """sha256 of mlops_assets/lib/*.py as this process imported them (backtest.py included)."""
    import hashlib

    import mlops_assets.lib

    lib = Path(mlops_assets.lib.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(lib.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def run_case(case: Case) -> dict[str, Any]:
    """Build the case's labelled frame and backtest it; time and peak memory of both."""
    from common import measure_peak

    from mlops_assets.lib import backtest as bt
    from mlops_assets.lib.training import CODE_VERSION, TrainingConfig

    # The library may change between cases of one run: each says which code it measured.
    out: dict[str, Any] = {"code_version": CODE_VERSION, "lib_sha": lib_digest()}

    def log(message: str) -> None:
        print(f"  [{case.label}] {message}", file=sys.stderr, flush=True)

    def run() -> None:
        started = time.perf_counter()
        inputs = generated_inputs if case.kind == "generated" else real_inputs
        consumption, weather, start, end, calendar, source = inputs(case)
        frame = labelled_frame(consumption, weather, start, end, calendar)
        out["prepare_s"] = time.perf_counter() - started
        log(f"{frame.height:,} labelled rows in {out['prepare_s']:.1f}s; backtesting")
        result = bt.rolling_origin(frame, WEEKS, TrainingConfig(), refit_every=1, log=log)
        out["total_s"] = time.perf_counter() - started
        out.update(
            source=source,
            window=[str(start.date()), str((end - timedelta(days=1)).date())],
            frame_rows=frame.height,
            segments=result.segments,
            backtest_s=result.seconds,
            fits=result.fits,
            overall=_rows(result.overall),
            windows=_rows(result.windows),
            by_week=_rows(result.by_week),
        )
        if case.kind == "generated":
            out["bound"] = generated_bound(case)

    out["peak_mib"], out["peak_method"] = measure_peak(run)
    return out


def run_in_process(case: Case) -> dict[str, Any]:
    """One case in a new interpreter; its progress goes to this process's stderr."""
    args = [sys.executable, __file__, "--case", json.dumps(asdict(case))]
    print(f"running {case.label} ...", file=sys.stderr, flush=True)
    done = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"forecast quality case {case.label!r} failed (see stderr above)")
    return json.loads(done.stdout.splitlines()[-1])


# --- reading the results --------------------------------------------------------------------------


def metrics(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """forecaster -> wape, mape (both %), mae, rows."""
    return {
        row["forecaster"]: {k: float(row[k]) for k in ("wape", "mape", "mae", "rows")}
        for row in result["overall"]
    }


def ratios(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """The model's WAPE and MAPE over seasonal naive's and weekday naive's."""
    model = scores["model"]
    return {
        f"{metric}/{short}": model[metric] / scores[name][metric]
        for metric in ("wape", "mape")
        for name, short in (("seasonal_naive", "sn"), ("weekday_naive", "wn"))
    }


def pooled(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each forecaster's scores over several cases' test rows: WAPE as sum |error| / sum actual
    (from each case's MAE, rows and WAPE), MAPE and MAE weighted by rows."""
    out = {}
    for name in FORECASTERS:
        parts = [metrics(r)[name] for r in results]
        rows = sum(p["rows"] for p in parts)
        error = sum(p["mae"] * p["rows"] for p in parts)
        actual = sum(p["mae"] * p["rows"] / (p["wape"] / 100) for p in parts)
        out[name] = {
            "wape": 100 * error / actual,
            "mape": sum(p["mape"] * p["rows"] for p in parts) / rows,
            "mae": error / rows,
            "rows": rows,
        }
    return out


def verdict(kind: str, r: dict[str, float]) -> tuple[bool, str]:
    """Whether the issue's target for this kind of series is met, and the figures it rests on."""
    if kind == "generated":
        met = r["wape/sn"] <= GENERATED_RATIO or r["mape/sn"] <= GENERATED_RATIO
        return met, (
            f"model/seasonal_naive WAPE {r['wape/sn']:.2f}, MAPE {r['mape/sn']:.2f} "
            f"(target: either <= {GENERATED_RATIO})"
        )
    met = r["mape/sn"] <= REAL_MAPE_RATIO and r["mape/wn"] < 1.0
    return met, (
        f"MAPE model/seasonal_naive {r['mape/sn']:.2f} (target <= {REAL_MAPE_RATIO}), "
        f"model/weekday_naive {r['mape/wn']:.2f} (target < 1)"
    )


def _kind(case: Case) -> str:
    return "generated" if case.kind == "generated" else "real"


def families_text(result: dict[str, Any]) -> str:
    return ", ".join(w["family"] for w in result["windows"])


def case_report(case: Case, result: dict[str, Any]) -> str:
    """The case's overall scores, its weeks with their windows and families, and its verdict."""
    scores = metrics(result)
    overall = [
        [
            name,
            s["wape"],
            s["mape"],
            s["mae"],
            int(s["rows"]),
            "" if name == "model" else scores["model"]["wape"] / s["wape"],
            "" if name == "model" else scores["model"]["mape"] / s["mape"],
        ]
        for name, s in scores.items()
    ]
    week_wape = {(row["week"], row["forecaster"]): row["wape"] for row in result["by_week"]}
    weeks = [
        [
            w["week"],
            f"{w['train_start']} .. {w['train_end']}",
            w["validation_start"],
            f"{w['test_start']} .. {w['test_end']}",
            w["test_rows"],
            w["family"],
            w["validation_wapes"].replace(" %", "").replace("weekday_naive", "wn"),
            *[float(week_wape[(w["week"], name)]) for name in FORECASTERS],
            f"{w['fit_seconds']:.1f}",
        ]
        for w in result["windows"]
    ]
    met, figures = verdict(_kind(case), ratios(scores))
    first, last = result["window"]
    return "\n".join(
        [
            banner(case.label),
            f"Data: {result['source']}.",
            f"Frame: target days {first} .. {last} (UTC), {result['frame_rows']:,} labelled rows, "
            f"{result['segments']} segment(s); {WEEKS} test weeks, refit weekly.",
            f"Time: {result['total_s']:.1f} s ({result['prepare_s']:.1f} s data and features, "
            f"{result['backtest_s']:.1f} s backtest of {result['fits']} fits); peak RSS "
            f"+{max(result['peak_mib'], 0.0):,.0f} MiB. Code: model {result['code_version']} "
            f"(training.CODE_VERSION), mlops_assets/lib/*.py {result['lib_sha']}.",
            "",
            table(
                [
                    "forecaster",
                    "WAPE %",
                    "MAPE %",
                    "MAE kWh",
                    "rows",
                    "model/x WAPE",
                    "model/x MAPE",
                ],
                overall,
            ),
            "",
            table(
                [
                    "week",
                    "trained on (UTC days)",
                    "validation from",
                    "test week",
                    "rows",
                    "family",
                    "validation WAPE %",
                    *[f"{SHORT[name]} WAPE" for name in FORECASTERS],
                    "fit s",
                ],
                weeks,
            ),
            "",
            f"Verdict: {'MET' if met else 'NOT MET'}: {figures}.",
            *([bound_text(result["bound"])] if "bound" in result else []),
        ]
    )


def bound_text(bound: dict[str, float]) -> str:
    return (
        f"Bound (the generator's formula without noise, fed the issued temperature forecasts): "
        f"WAPE {bound['wape']:.2f} %, MAPE {bound['mape']:.2f} %; over seasonal naive WAPE "
        f"{bound['wape/sn']:.3f}, MAPE {bound['mape/sn']:.3f}. Only luck beats it."
    )


def summary(cases: Sequence[Case], results: Sequence[dict[str, Any]]) -> str:
    """Every case in three tables (WAPE, MAPE, run), plus each group's pooled row."""
    wape_rows, mape_rows, run_rows = [], [], []

    def add(label: str, kind: str, scores: dict[str, dict[str, float]], run: list[object]) -> None:
        r = ratios(scores)
        met, _ = verdict(kind, r)
        for rows, metric in ((wape_rows, "wape"), (mape_rows, "mape")):
            rows.append(
                [
                    label,
                    *[scores[name][metric] for name in FORECASTERS],
                    r[f"{metric}/sn"],
                    r[f"{metric}/wn"],
                ]
            )
        run_rows.append([label, *run, "met" if met else "NOT met"])

    groups: dict[str, list[tuple[Case, dict[str, Any]]]] = {}
    for case, result in zip(cases, results, strict=True):
        first, last = result["windows"][0], result["windows"][-1]
        add(
            case.label,
            _kind(case),
            metrics(result),
            [
                result["segments"],
                f"{first['train_start']} .. {first['train_end']}",
                f"{first['test_start']} .. {last['test_end']}",
                families_text(result),
                f"{result['total_s']:.0f}",
                f"{max(result['peak_mib'], 0.0):,.0f}",
                result["lib_sha"],
            ],
        )
        if case.group:
            groups.setdefault(case.group, []).append((case, result))
    notes = []
    for group, members in groups.items():
        if len(members) < 2:
            continue
        scores = pooled([r for _, r in members])
        chosen = [w["family"] for _, r in members for w in r["windows"]]
        counts = ", ".join(f"{f} {chosen.count(f)}" for f in sorted(set(chosen)))
        add(
            f"{group} pooled ({len(members)} windows)",
            _kind(members[0][0]),
            scores,
            [
                members[0][1]["segments"],
                "",
                "",
                counts,
                f"{sum(r['total_s'] for _, r in members):.0f}",
                "",
                "",
            ],
        )
        each = [ratios(metrics(r)) for _, r in members]
        met = sum(verdict(_kind(c), ratios(metrics(r)))[0] for c, r in members)
        notes.append(
            f"{group}: median over {len(members)} windows of MAPE model/seasonal_naive "
            f"{statistics.median(x['mape/sn'] for x in each):.2f}, model/weekday_naive "
            f"{statistics.median(x['mape/wn'] for x in each):.2f}; WAPE model/seasonal_naive "
            f"{statistics.median(x['wape/sn'] for x in each):.2f}, model/weekday_naive "
            f"{statistics.median(x['wape/wn'] for x in each):.2f}; the target met in {met} of "
            f"{len(members)} windows."
        )
    for case, result in zip(cases, results, strict=True):
        if "bound" in result:
            notes.append(f"{case.label}: {bound_text(result['bound'])}")
    scored = [*(SHORT[name] for name in FORECASTERS), "model/sn", "model/wn"]
    codes = sorted({r["lib_sha"] for r in results})
    if len(codes) > 1:
        notes.append(
            f"The library changed during this run: the cases measured {len(codes)} versions of "
            f"mlops_assets/lib ({', '.join(codes)}); compare only cases of one version."
        )
    return "\n".join(
        [
            banner("Summary: out of sample, 4 test weeks per case, refit weekly"),
            "sn = seasonal_naive (same hour last week), wn = weekday_naive, shy = "
            "same_hour_yesterday; model/x below 1: the model wins. Pooled rows: WAPE over all "
            "test rows, MAPE row-weighted.",
            "",
            "WAPE %",
            table(["case", *scored], wape_rows),
            "",
            "MAPE %",
            table(["case", *scored], mape_rows),
            "",
            table(
                [
                    "case",
                    "segments",
                    "week 1 trained on",
                    "test weeks",
                    "families chosen (week 1..4)",
                    "s",
                    "peak MiB",
                    "lib code",
                    "target",
                ],
                run_rows,
            ),
            *(["", *notes] if notes else []),
        ]
    )


# --- the benchmark --------------------------------------------------------------------------------


def vic_elec_cases() -> list[Case]:
    """vic_elec's newest whole 12 weeks and every 26 weeks before it, oldest first."""
    import real_series as rs

    newest = newest_whole_day(rs.load("vic_elec"))
    lasts = [newest - timedelta(days=VIC_ELEC_STEP_DAYS * i) for i in range(VIC_ELEC_WINDOWS)]
    return [
        Case(
            label=f"vic_elec, 12 weeks to {last}",
            kind="real",
            series="vic_elec",
            timezone=VIC_ELEC_TIMEZONE,
            last_day=str(last),
            group="vic_elec",
        )
        for last in reversed(lasts)
    ]


def cases(args: argparse.Namespace) -> list[Case]:
    if args.csv:
        return [Case(label=f"{args.csv.name}", kind="csv", series=str(args.csv), timezone=args.tz)]
    starts = args.start[:1] if args.quick else args.start
    chosen = []
    if "generated" in args.only:
        chosen += [
            Case(
                label=f"generated {2 * n} segments from {start}",
                kind="generated",
                start=str(start),
                n_consumer_types=n,
                seed=args.seed,
            )
            for i, start in enumerate(starts)
            for n in (GENERATED_SIZES if i == 0 and not args.quick else GENERATED_SIZES[:1])
        ]
    if "taylor" in args.only:
        chosen.append(Case(label="taylor", kind="real", series="taylor", timezone=TAYLOR_TIMEZONE))
    if "vic_elec" in args.only and not args.quick:
        chosen += vic_elec_cases()
    return chosen


def environment() -> list[str]:
    import polars as pl
    import xgboost

    from mlops_assets.lib.training import CODE_VERSION

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "?"

    edited = git("status", "--porcelain", "--", "mlops_assets")
    commit = git("rev-parse", "--short", "HEAD")
    return [
        f"Command: {shlex.join(['python', *sys.argv])}",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit}"
        f"{' with uncommitted changes to mlops_assets/' if edited else ''}; at the start, model "
        f"code {CODE_VERSION} (training.CODE_VERSION), mlops_assets/lib/*.py {lib_digest()}.",
        f"Python {platform.python_version()}, polars {pl.__version__}, xgboost "
        f"{xgboost.__version__}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}.",
        f"Protocol: {WINDOW_DAYS // 7} weeks of UTC days per case (+ the features' look-back where "
        f"the series has it): {HISTORY_WEEKS} weeks of history, then {WEEKS} test weeks, refit "
        "every week on all days before it (rolling_origin, weeks=4, TrainingConfig defaults: 7 "
        "validation days choose the family). Each case in its own process; peak RSS: "
        f"{PEAK_METHOD_RESET if can_reset_peak() else PEAK_METHOD_MAXRSS}.",
        f"Targets: generated, model WAPE or MAPE <= {GENERATED_RATIO}x seasonal naive's; real, "
        f"model MAPE <= {REAL_MAPE_RATIO}x seasonal naive's and below weekday naive's.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="76 generated segments (first --start) and taylor"
    )
    parser.add_argument(
        "--start",
        nargs="+",
        type=date.fromisoformat,
        default=list(GENERATED_STARTS),
        metavar="YYYY-MM-DD",
        help="first UTC day of each generated 12-week window: 76 and 760 segments on the first, "
        "76 on the others (default: "
        f"{' '.join(map(str, GENERATED_STARTS))})",
    )
    parser.add_argument("--seed", type=int, default=42, help="the generator's seed")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("generated", "taylor", "vic_elec"),
        default=("generated", "taylor", "vic_elec"),
        help="run only these cases",
    )
    parser.add_argument("--csv", type=Path, help="backtest this file's newest 12 weeks instead")
    parser.add_argument(
        "--timezone",
        dest="tz",
        default="UTC",
        help="with --csv: the zone of offset-less timestamps and of the calendar",
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(Case(**json.loads(args.case)))))
        return 0

    started = time.perf_counter()
    print("\n".join(environment()))
    chosen = cases(args)
    results = []
    for case in chosen:
        results.append(run_in_process(case))
        print(case_report(case, results[-1]), flush=True)
    print(summary(chosen, results))
    print(f"\nTotal: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

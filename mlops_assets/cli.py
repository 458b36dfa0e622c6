"""`mlops-assets`: run the main job on the embedded default, or generate landing files."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from mlops_assets.lib import landing_zone
from mlops_assets.lib.generator import (
    Defects,
    Drift,
    GeneratorConfig,
    generate_consumption,
    generate_weather,
    generate_weather_forecast,
)
from mlops_assets.lib.progress import Progress
from mlops_assets.lib.validation import day_window
from mlops_assets.settings import Settings

if TYPE_CHECKING:
    from mlops_assets.pipeline import Plan

MAIN_JOB = "the main job"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    quick = commands.add_parser(
        "quickstart",
        help="run the whole graph over recent days: train on all but the last 7, forecast and "
        "score those out of sample, and issue today's forecast",
    )
    # Six weeks: a week until the weekly lag exists, four weeks to train, validate and gate on,
    # one held-out week scored out of sample.
    quick.add_argument("--days", type=int, default=42, help="days of history (default 42)")
    quick.add_argument("--end", type=date.fromisoformat, help="last day (default: yesterday, UTC)")
    quick.add_argument(
        "--holdout-days",
        type=int,
        default=7,
        help="last days left out of training and forecast out of sample (default 7)",
    )
    quick.add_argument("--force", action="store_true", help="run again even if done before")
    quick.set_defaults(run=_quickstart)

    sim = commands.add_parser(
        "simulate",
        help="drop the next day(s) of files into the landing zone, as if time passed",
    )
    sim.add_argument("--days", type=int, default=1, help="how many days (default 1)")
    sim.add_argument(
        "--start", type=date.fromisoformat, help="default: day after the lake's newest"
    )
    sim.add_argument("--drift-level", type=float, default=0.0, help="relative shift, 0.4=+40%%")
    sim.add_argument("--drift-types", help="comma-separated consumer types (default: all)")
    sim.add_argument(
        "--weather-only",
        action="store_true",
        help="re-send the weather files only (a late arrival)",
    )
    sim.set_defaults(run=_simulate)

    rollback = commands.add_parser(
        "rollback", help="give the champion alias back to the previous champion"
    )
    rollback.set_defaults(run=_rollback)

    repro = commands.add_parser(
        "reproduce", help="retrain a registered version from its lineage and compare metrics"
    )
    repro.add_argument("version", help="registered model version, e.g. 3 (default: champion)")
    repro.set_defaults(run=_reproduce)

    back = commands.add_parser(
        "backtest",
        help="forecast each of the newest weeks with a model trained only on the days before it, "
        "score it with the baselines, and log the tables and plot to MLflow",
    )
    back.add_argument("--weeks", type=int, default=4, help="test weeks (default 4)")
    back.add_argument(
        "--end", type=date.fromisoformat, help="last test day (default: newest staged day)"
    )
    back.add_argument(
        "--history-days",
        type=int,
        default=56,
        help="days before the first test week that train its model (default 56: 8 weeks)",
    )
    back.add_argument(
        "--refit-every",
        type=int,
        default=1,
        help="weeks between refits; 0 trains one model for every week (default 1)",
    )
    back.set_defaults(run=_backtest)

    gen = commands.add_parser("generate", help="write generated files into the landing zone")
    gen.add_argument("--start", type=date.fromisoformat, required=True, help="first day")
    gen.add_argument("--end", type=date.fromisoformat, required=True, help="last day, inclusive")
    gen.add_argument("--format", choices=landing_zone.FORMATS, default="parquet")
    gen.add_argument("--datasets", default="consumption,weather,weather_forecast")
    gen.add_argument("--landing-dir", type=Path, help="default: MLOPS_LANDING_DIR")
    gen.add_argument("--consumer-types", type=int, help="segments per price area")
    gen.add_argument("--seed", type=int)
    defects = gen.add_argument_group("defects (consumption files)")
    defects.add_argument("--missing-hours", type=float, default=0.0, help="share of rows dropped")
    defects.add_argument("--duplicates", type=int, default=0)
    defects.add_argument("--negatives", type=int, default=0)
    defects.add_argument("--absurd", type=int, default=0)
    defects.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    defects.add_argument("--drop-column", action="append", default=[])
    defects.add_argument("--wrong-type", action="append", default=[], metavar="COLUMN")
    drift = gen.add_argument_group("drift")
    drift.add_argument("--drift-from", type=date.fromisoformat, help="drift starts this day")
    drift.add_argument("--drift-types", help="comma-separated consumer types (default: all)")
    drift.add_argument("--drift-level", type=float, default=0.0, help="relative shift, 0.3=+30%%")
    drift.add_argument(
        "--drift-temperature", type=float, default=1.0, help="factor on temperature sensitivity"
    )
    gen.set_defaults(run=_generate)

    args = parser.parse_args(argv)
    return int(args.run(args))


def _quickstart(args: argparse.Namespace) -> int:
    from mlops_assets.instance import dagster_home, prepare_home

    home = prepare_home(dagster_home())
    os.environ["DAGSTER_HOME"] = str(home)
    settings = Settings.from_env()
    end = args.end or (datetime.now(UTC).date() - timedelta(days=1))
    start = max(end - timedelta(days=args.days - 1), settings.partition_start)

    from mlops_assets.pipeline import Plan, run_main_job

    try:
        plan = Plan(start, end, args.holdout_days)
    except ValueError as error:
        print(f"mlops-assets quickstart: {error}", file=sys.stderr)
        return 2
    hold_first, hold_last = plan.holdout
    print(f"mlops-assets: {MAIN_JOB} for {start} .. {end} on the {settings.source} source")
    print(
        f"  train on {plan.first_forecast_day} .. {plan.training_end - timedelta(days=1)}, "
        f"forecast {hold_first} .. "
        f"{hold_last} out of sample, and issue the forecast for {plan.next_day}"
    )
    print(f"  DAGSTER_HOME={home}")

    import dagster as dg

    from mlops_assets.defs.staging.project import dbt_project

    if not dbt_project.manifest_path.exists():
        print("  preparing the dbt manifest (first run)")
        dbt_project.preparer.prepare(dbt_project)
    from mlops_assets.definitions import defs

    instance = dg.DagsterInstance.get()
    marker = home / "quickstart.done"
    done = f"{start} {end} {args.holdout_days}"
    if marker.exists() and marker.read_text() == done and not args.force:
        print(f"  {MAIN_JOB} already ran for these days (pass --force to run it again)")
        _print_scores(settings, plan)
        _where_to_look(settings, home)
        return 0

    started = time.monotonic()
    results = run_main_job(
        defs(),
        instance,
        plan,
        tags={"trigger": "quickstart"},
        on_step=lambda i, n, step: print(f"\n[{i}/{n}] {step.name} ({step.job})", flush=True),
    )
    took = time.monotonic() - started
    failed = next((r for r in results if not r.success), None)
    if failed is not None:
        print(
            f"\n{MAIN_JOB} FAILED at step '{failed.step.name}' ({failed.step.job}, run "
            f"{failed.run_id}) after {took:.1f}s.",
            file=sys.stderr,
        )
        print(
            "  The log above names the failing step and why: for bad data the file, partition,"
            f" column and rule (rejected files are in {settings.quarantine_dir}); for the model"
            " the gate's comparison with the baselines and the champion.",
            file=sys.stderr,
        )
        _where_to_look(settings, home)
        return 1
    marker.write_text(done)
    print(f"\n{MAIN_JOB} succeeded in {took:.1f}s ({len(results)} runs).")
    _print_scores(settings, plan)
    _where_to_look(settings, home)
    return 0


def _print_scores(settings: Settings, plan: Plan) -> None:
    from mlops_assets.lib.markdown import markdown_table
    from mlops_assets.pipeline import out_of_sample_scores

    first, last = plan.holdout
    scores = out_of_sample_scores(settings.lake_dir, settings.warehouse_path, plan)
    print(
        f"\nOut-of-sample forecasts for {first} .. {last} (days the model never saw; each issued "
        "at its day's 00:00 UTC origin), pooled over segments and hours:"
    )
    print(markdown_table(scores.with_columns(pl.col("wape_%", "mape_%", "mae_kwh").round(2))))


def _where_to_look(settings: Settings, home: Path) -> None:
    root = Path.cwd()

    def show(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    print(
        "\nWhere to look:\n"
        f"  lake (Parquet, one file per day):  {show(settings.lake_dir)}/raw_*/day=*/data.parquet\n"
        f"  warehouse (DuckDB, dbt staging):   {show(settings.warehouse_path)}"
        "  -> tables staging.stg_consumption, stg_weather, stg_weather_forecast\n"
        f"  quarantine (rejected files):       {show(settings.quarantine_dir)}\n"
        f"  features (Feast offline store):    {show(settings.feature_store_dir)}/offline/\n"
        f"  Feast registry and online store:   {show(settings.feature_store_dir)}/"
        "registry.db, online.db\n"
        f"  training set (Parquet):            {show(settings.feature_store_dir)}/training_sets/\n"
        f"  landing zone (drop files here):    {show(settings.landing_dir)}\n"
        f"  batch predictions (Parquet):       {show(settings.lake_dir)}/predictions/day=*/\n"
        f"  realised performance (Parquet):    {show(settings.lake_dir)}/prediction_performance/\n"
        f"  drift reports (Evidently HTML):    {show(settings.data_dir)}/reports/drift_<day>.html\n"
        f"  MLflow runs and model registry:    {settings.tracking_uri}\n"
        "    make mlflow  then open http://127.0.0.1:5000 (runs, artifacts, versions, aliases)\n"
        "Open the Dagster UI on this instance:\n"
        "  make dev      then open http://127.0.0.1:3000\n"
        # Dagster wants an absolute DAGSTER_HOME.
        f"  (same as: source .venv/bin/activate && DAGSTER_HOME={_absolute(home)} dagster dev)"
    )


def _absolute(path: Path) -> str:
    return f"$PWD/{path.relative_to(Path.cwd())}" if path.is_relative_to(Path.cwd()) else str(path)


def _registry(settings: Settings):  # -> Registry; mlflow itself loads only when called
    from mlops_assets.lib.registry import Registry

    return Registry(
        tracking_uri=settings.tracking_uri,
        artifact_location=settings.artifact_location,
        experiment=settings.mlflow_experiment,
        model_name=settings.model_name,
        ui_url=settings.mlflow_ui_url,
    )


def _rollback(args: argparse.Namespace) -> int:
    from mlops_assets.lib.registry import RegistryError

    registry = _registry(Settings.from_env())
    try:
        moved = registry.rollback()
    except RegistryError as error:
        print(f"rollback refused: {error}", file=sys.stderr)
        return 1
    print(
        f"{registry.model_name}: champion is now version {moved['champion']} (was "
        f"{moved['demoted']}); previous_champion -> {moved['previous_champion'] or 'none'}"
    )
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from mlops_assets.feature_repo.offline import offline_dir
    from mlops_assets.feature_repo.retrieval import labelled_training_set
    from mlops_assets.lib.markdown import markdown_table
    from mlops_assets.lib.training import reproduce

    settings = Settings.from_env()
    result = reproduce(
        _registry(settings),
        args.version,
        lambda start, end: labelled_training_set(
            settings.warehouse_path, offline_dir(settings.feature_store_dir), start, end
        ),
    )
    print(f"version {result.version}, training window [{result.window[0]}, {result.window[1]})")
    print(
        f"training set version: logged {result.data_version_logged}, "
        f"rebuilt {result.data_version_rebuilt}"
    )
    print(markdown_table(result.metrics))
    print("REPRODUCED" if result.reproduced else "NOT REPRODUCED")
    return 0 if result.reproduced else 1


def _backtest(args: argparse.Namespace) -> int:
    from mlops_assets.feature_repo.offline import offline_dir
    from mlops_assets.feature_repo.retrieval import labelled_training_set
    from mlops_assets.lib import backtest
    from mlops_assets.lib import warehouse as staged
    from mlops_assets.lib.model_report import png
    from mlops_assets.lib.registry import RegistryError, RegistryUnavailable

    settings = Settings.from_env()
    try:
        last = args.end or staged.newest_day(settings.warehouse_path, staged.STAGED_CONSUMPTION)
        start, end = backtest.read_window(last + timedelta(days=1), args.weeks, args.history_days)
        print(f"backtest: reading target hours [{start:%Y-%m-%d}, {end:%Y-%m-%d}) of the stores")
        frame = labelled_training_set(
            settings.warehouse_path, offline_dir(settings.feature_store_dir), start, end
        )
        result = backtest.rolling_origin(
            frame, args.weeks, settings.training, args.refit_every, log=print
        )
    except (ValueError, FileNotFoundError, staged.MissingUpstreamError) as error:
        print(f"mlops-assets backtest: {error}", file=sys.stderr)
        return 2
    first, last_day = result.test_window
    reports = settings.data_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    plot = reports / f"backtest_{first}_{last_day}.png"
    plot.write_bytes(png(backtest.plot(result)))
    print(f"\n{backtest.summary_markdown(result)}")
    print(f"took {result.seconds:.1f}s ({result.fits} fit(s))")
    print(f"plot:       {plot}")
    registry = _registry(settings)
    try:
        run_id = backtest.log_run(result, registry, lineage={"trigger": "cli"})
    except (RegistryError, RegistryUnavailable) as error:
        print(f"mlops-assets backtest: not logged to MLflow: {error}", file=sys.stderr)
        return 1
    print(
        f"MLflow run: {registry.run_url(run_id) or run_id} in experiment "
        f"'{registry.experiment}' at {registry.tracking_uri} (tables/*.csv, plots/backtest.png)"
    )
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from mlops_assets.lib.lake import Lake

    settings = Settings.from_env()
    known = Lake(settings.lake_dir).days("raw_consumption")
    start = args.start or (known[-1] + timedelta(days=1) if known else None)
    if start is None:
        raise SystemExit("the lake is empty: run `mlops-assets quickstart` first, or pass --start")
    end = start + timedelta(days=args.days - 1)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    if end > yesterday:
        raise SystemExit(
            f"{end} has no daily partition yet (the newest is {yesterday}). Build history that "
            f"ends earlier, e.g. `mlops-assets quickstart --end {yesterday - timedelta(days=10)}`"
        )
    types = tuple(int(t) for t in args.drift_types.split(",")) if args.drift_types else None
    drift = (
        (Drift(start=start, consumer_types=types, level_shift=args.drift_level),)
        if args.drift_level
        else ()
    )
    config = GeneratorConfig(
        seed=settings.generator_seed,
        price_areas=settings.price_areas,
        n_consumer_types=settings.n_consumer_types,
        drift=drift,
    )
    datasets = ["weather"] if args.weather_only else ["consumption", "weather"]
    write_landing_days(settings.landing_dir, start, end, config, None, datasets, "parquet")
    # While day D passes, the weather service issues its forecasts for D+1.
    one_day = timedelta(days=1)
    write_landing_days(
        settings.landing_dir, start + one_day, end + one_day, config, None, ["weather_forecast"]
    )
    settle(settings.landing_settle_seconds)
    print(
        f"landed the actuals of {start} .. {end} ({', '.join(datasets)}"
        f"{f', drift +{args.drift_level:.0%}' if drift else ''}) and the weather forecasts for "
        f"{start + one_day} .. {end + one_day} in {settings.landing_dir}.\n"
        "With MLOPS_SOURCE=landing and the sensors on (`make demo`), watch in the UI: "
        "landing_zone_sensor ingests, inputs_complete_sensor issues the forecast of each next "
        "day (features, predictions, drift) and scores the landed days against their forecasts, "
        "and the drift/performance sensors request training_job when thresholds are crossed."
    )
    return 0


def write_landing_days(
    landing_dir: Path,
    start: date,
    end: date,
    config: GeneratorConfig,
    defects: Defects | None,
    datasets: Sequence[str],
    fmt: str = "parquet",
) -> None:
    """Generated files for every day in [start, end] and dataset, named by the landing rule
    (a weather forecast file is named by its target day)."""
    n_days = (end - start).days + 1
    if n_days < 1:
        raise SystemExit("--end must not be before --start")
    progress = Progress(n_days * len(datasets), f"generating into {landing_dir}")
    for i in range(n_days):
        day = start + timedelta(days=i)
        window = day_window(day)
        for dataset in datasets:
            if dataset == "consumption":
                frame = generate_consumption(*window, config, defects)
            elif dataset == "weather":
                frame = generate_weather(*window, config)
            elif dataset == "weather_forecast":
                frame = generate_weather_forecast(*window, config)
            else:
                raise SystemExit(
                    f"unknown dataset {dataset!r}; use consumption, weather and/or weather_forecast"
                )
            path = landing_zone.landing_path(landing_dir, dataset, day, fmt)
            landing_zone.write_file(frame, path)
            progress.advance(path.name)


def _generate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    landing_dir = args.landing_dir or settings.landing_dir
    config = GeneratorConfig(
        seed=settings.generator_seed if args.seed is None else args.seed,
        price_areas=settings.price_areas,
        n_consumer_types=args.consumer_types or settings.n_consumer_types,
        drift=_drift(args),
    )
    defects = Defects(
        missing_hours=args.missing_hours,
        duplicate_rows=args.duplicates,
        negative_values=args.negatives,
        absurd_values=args.absurd,
        rename_columns=dict(pair.split("=", 1) for pair in args.rename),
        drop_columns=tuple(args.drop_column),
        wrong_types=tuple(args.wrong_type),
    )
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    write_landing_days(
        landing_dir,
        args.start,
        args.end,
        config,
        defects if defects.any else None,
        datasets,
        args.format,
    )
    settle(settings.landing_settle_seconds)
    return 0


def settle(seconds: float) -> None:
    """Landing files are taken once unchanged for the settle time: wait it out after writing,
    so that a run started next takes every file."""
    if seconds > 0:
        print(
            f"waiting {seconds:g} s until the files have settled (MLOPS_LANDING_SETTLE_SECONDS)",
            flush=True,
        )
        time.sleep(seconds)


def _drift(args: argparse.Namespace) -> tuple[Drift, ...]:
    if args.drift_from is None:
        return ()
    types = tuple(int(t) for t in args.drift_types.split(",")) if args.drift_types else None
    return (
        Drift(
            start=args.drift_from,
            consumer_types=types,
            level_shift=args.drift_level,
            temperature_sensitivity_factor=args.drift_temperature,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())

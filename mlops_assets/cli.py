"""`mlops-assets`: run the main job on the embedded default, or generate landing files."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mlops_assets.lib import landing_zone
from mlops_assets.lib.generator import (
    Defects,
    Drift,
    GeneratorConfig,
    generate_consumption,
    generate_weather,
)
from mlops_assets.lib.progress import Progress
from mlops_assets.lib.validation import day_window
from mlops_assets.settings import Settings

MAIN_JOB = "full_pipeline_job"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    quick = commands.add_parser("quickstart", help="materialize every asset for recent days")
    # Four weeks: features look back 15 days, so the model trains on two weeks with every feature.
    quick.add_argument("--days", type=int, default=28, help="how many recent days (default 28)")
    quick.add_argument("--end", type=date.fromisoformat, help="last day (default: yesterday, UTC)")
    quick.add_argument("--force", action="store_true", help="re-run days already materialized")
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
    sim.add_argument("--weather-only", action="store_true", help="re-send weather (late arrival)")
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

    gen = commands.add_parser("generate", help="write generated files into the landing zone")
    gen.add_argument("--start", type=date.fromisoformat, required=True, help="first day")
    gen.add_argument("--end", type=date.fromisoformat, required=True, help="last day, inclusive")
    gen.add_argument("--format", choices=landing_zone.FORMATS, default="parquet")
    gen.add_argument("--datasets", default="consumption,weather")
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
    print(f"mlops-assets: {MAIN_JOB} for {start} .. {end} on the {settings.source} source")
    print(f"  DAGSTER_HOME={home}")

    import dagster as dg

    from mlops_assets.defs.staging.project import dbt_project

    if not dbt_project.manifest_path.exists():
        print("  preparing the dbt manifest (first run)")
        dbt_project.preparer.prepare(dbt_project)
    from mlops_assets.definitions import defs

    job = defs().resolve_job_def(MAIN_JOB)
    instance = dg.DagsterInstance.get()
    todo = _days_to_run(instance, job, start, end, force=args.force)
    if not todo:
        print(f"  every asset of {MAIN_JOB} is already materialized for these days")
        _where_to_look(settings, home)
        return 0

    first, last = todo[0], todo[-1]
    print(f"  materializing {len(todo)} missing day(s): {first} .. {last}")
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
            "trigger": "quickstart",
        },
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
    )
    took = time.monotonic() - started
    if not result.success:
        print(f"\n{MAIN_JOB} FAILED after {took:.1f}s (run {result.run_id}).", file=sys.stderr)
        print(
            "  The log above names the failing step and why: for bad data the file, partition,"
            f" column and rule (rejected files are in {settings.quarantine_dir}); for the model"
            " the gate's comparison with the baseline and the champion.",
            file=sys.stderr,
        )
        _where_to_look(settings, home)
        return 1
    print(f"\n{MAIN_JOB} succeeded in {took:.1f}s (run {result.run_id}).")
    _where_to_look(settings, home)
    return 0


def _days_to_run(instance, job, start: date, end: date, force: bool) -> list[date]:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    if force:
        return days
    graph = job.asset_layer.asset_graph
    keys = job.asset_layer.executable_asset_keys
    daily = [k for k in keys if graph.get(k).partitions_def is not None]
    done = set.intersection(*(set(instance.get_materialized_partitions(k)) for k in daily))
    todo = [d for d in days if d.isoformat() not in done]
    unpartitioned = [k for k in keys if graph.get(k).partitions_def is None]
    if not todo and any(
        instance.get_latest_materialization_event(k) is None for k in unpartitioned
    ):
        # Only the unpartitioned assets are missing: the newest day is enough to build them.
        return days[-1:]
    return todo


def _where_to_look(settings: Settings, home: Path) -> None:
    root = Path.cwd()

    def show(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    print(
        "\nWhere to look:\n"
        f"  lake (Parquet, one file per day):  {show(settings.lake_dir)}/raw_*/day=*/data.parquet\n"
        f"  warehouse (DuckDB, dbt staging):   {show(settings.warehouse_path)}"
        "  -> tables staging.stg_consumption, staging.stg_weather\n"
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
    print(
        f"landed {start} .. {end} ({', '.join(datasets)}"
        f"{f', drift +{args.drift_level:.0%}' if drift else ''}) in {settings.landing_dir}.\n"
        "With MLOPS_SOURCE=landing and the sensors on (`make demo`), watch in the UI: "
        "landing_zone_sensor ingests, inputs_complete_sensor runs features, predictions and "
        "monitoring, and the drift/performance sensors request training_job when thresholds "
        "are crossed."
    )
    return 0


def write_landing_days(
    landing_dir: Path,
    start: date,
    end: date,
    config: GeneratorConfig,
    defects: Defects | None,
    datasets: Sequence[str],
    fmt: str,
) -> None:
    """Generated files for every day in [start, end] and dataset, named by the landing rule."""
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
            else:
                raise SystemExit(f"unknown dataset {dataset!r}; use consumption and/or weather")
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
    return 0


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

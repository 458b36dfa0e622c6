"""The event-driven retraining architectures as sensors: push (new landing files), message-based
(a day runs once all its inputs are in), drift- and performance-triggered retraining, and the
run-failure alarm. The decisions live in `lib/triggers.py`; these wrappers read Dagster state."""

import functools
import json
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from mlops_assets.defs.jobs import (
    FORECAST_FROM_STAGED,
    daily_job,
    forecast_job,
    ingestion_job,
    training_job,
)
from mlops_assets.lib import triggers
from mlops_assets.settings import Settings

STAGED = {
    "consumption": dg.AssetKey(["staging", "stg_consumption"]),
    "weather": dg.AssetKey(["staging", "stg_weather"]),
    "weather_forecast": dg.AssetKey(["staging", "stg_weather_forecast"]),
}
# Which job ingests a landed dataset: actuals by their day, forecasts by their target day.
INGESTING_JOB = {
    "consumption": ingestion_job,
    "weather": ingestion_job,
    "weather_forecast": forecast_job,
}
FEATURES = dg.AssetKey("consumption_features")
PREDICTIONS = dg.AssetKey("batch_predictions")
PERFORMANCE = dg.AssetKey("prediction_performance")
# What a forecast day reads, in the order the sensor narrows the days down: the staged weather
# forecast of the day, then the staged actuals of the days before it. Which days of each input
# a forecast day reads is not written here: it is the partition mapping of the features' dependency
# in the asset graph (ACTUALS_BEFORE_ORIGIN, SAME_DAY in defs/partitions.py).
FORECAST_INPUTS = {
    "weather forecast": STAGED["weather_forecast"],
    "consumption": STAGED["consumption"],
}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START: first, RANGE_END: last}


def _latest_by_partition(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, int]:
    return instance.get_latest_storage_id_by_partition(
        key, dg.DagsterEventType.ASSET_MATERIALIZATION
    )


def _asset_graph(context: dg.SensorEvaluationContext) -> Any:
    """The asset graph of the code location the sensor runs in; a bare context (a test, a
    script) gets the package's own."""
    if context.repository_def is not None:
        return context.repository_def.asset_graph
    return _package_asset_graph()


@functools.cache
def _package_asset_graph() -> Any:
    from mlops_assets.definitions import defs  # imports this module: load it late

    return defs().resolve_asset_graph()


class _ReadWindows:
    """Which partitions of `parent` each partition of `child` reads, as the partition mapping of
    the dependency in the asset graph says: for a forecast day D the staged actuals D-15 .. D-1
    (oldest first). Asking the mapping costs about 0.5 ms a day, so the answers are kept between
    ticks while the graph and both calendars (their newest partitions) are the same."""

    def __init__(self) -> None:
        self._seen: dict[tuple[dg.AssetKey, dg.AssetKey], tuple[Any, str | None, str | None]] = {}
        self._windows: dict[tuple[dg.AssetKey, dg.AssetKey], dict[str, list[str]]] = {}

    def __call__(
        self, graph: Any, child: dg.AssetKey, parent: dg.AssetKey, days: list[str]
    ) -> dict[str, list[str]]:
        pair = (child, parent)
        seen = self._seen.get(pair)
        now = (
            graph.get(child).partitions_def.get_last_partition_key(),
            graph.get(parent).partitions_def.get_last_partition_key(),
        )
        if seen is None or seen[0] is not graph or seen[1:] != now:
            self._seen[pair] = (graph, *now)
            self._windows[pair] = {}
        windows = self._windows[pair]
        for day in days:
            if day not in windows:
                parents = graph.get_parent_partition_keys_for_child(day, parent, child)
                windows[day] = sorted(parents.partitions_subset.get_partition_keys())
        return {day: windows[day] for day in days}


def _current_champion(instance: dg.DagsterInstance) -> str | None:
    """The version the last champion_model materialization promoted (no MLflow call per tick)."""
    event = instance.get_latest_materialization_event(dg.AssetKey("champion_model"))
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("champion_version")
    return str(value.value) if value is not None else None


def _of_champion(metadata: Mapping[str, Any], champion: str | None) -> bool:
    """Whether a report or score was measured against the current champion (all count while
    no champion has been promoted through Dagster yet)."""
    version = metadata.get("champion_version")
    return champion is None or (version is not None and str(version.value) == champion)


def _training_in_flight(context: dg.SensorEvaluationContext, stale_after_s: float) -> bool:
    """Whether a training_job run is queued or running. A STARTED run that can no longer finish
    is marked failed on the way instead: a crash must not stop retraining for good, and FAILURE
    keeps the UI, the failure alarm and the queue's one-training limit truthful."""
    instance = context.instance
    in_flight = False
    for record in instance.get_run_records(
        dg.RunsFilter(job_name=training_job.name, statuses=ACTIVE), limit=10
    ):
        run = record.dagster_run
        if run.status != dg.DagsterRunStatus.STARTED:
            in_flight = True  # queued, or starting: run monitoring's start timeout ends those
            continue
        reason = _why_dead(instance, run, stale_after_s)
        if reason is None:
            in_flight = True
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is not None and current.status == dg.DagsterRunStatus.STARTED:
            message = f"{run.job_name} run {run.run_id} can no longer finish: {reason}"
            context.log.warning(f"{message}; marking it failed so retraining can go on")
            instance.report_run_failed(current, f"Marked failed by the retraining sensor: {reason}")
    return in_flight


def _why_dead(instance: dg.DagsterInstance, run: dg.DagsterRun, stale_after_s: float) -> str | None:
    """Why a STARTED run can no longer finish, or None while it may."""
    pid, reported_at = _run_worker_pid(instance, run.run_id)
    running = None
    # DefaultRunLauncher's workers are children of the code server this sensor is evaluated in,
    # so their pids are on this host; other launchers' workers are pods or containers elsewhere.
    if pid is not None and isinstance(instance.run_launcher, dg.DefaultRunLauncher):
        running = triggers.process_running(pid, reported_at)
    last = instance.get_records_for_run(run.run_id, ascending=False, limit=1).records
    silent_s = time.time() - last[0].event_log_entry.timestamp if last else 0.0
    return triggers.dead_run_reason(pid, running, silent_s, stale_after_s)


def _run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int | None, float]:
    """The pid of the run's worker process and when it reported it: its first engine event
    carrying a pid ("Started process for run", or the in-process executor's)."""
    events = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=5
    ).records
    for record in events:
        event = record.event_log_entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event else None
        if pid is not None:
            return int(str(pid.value)), record.event_log_entry.timestamp
    return None, 0.0


def build_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    policy = settings.monitoring
    landing = settings.landing_uri or str(settings.landing_dir)
    status = (
        dg.DefaultSensorStatus.RUNNING if settings.automation_on else dg.DefaultSensorStatus.STOPPED
    )

    @dg.sensor(
        name="landing_zone_sensor",
        jobs=[ingestion_job, forecast_job],
        minimum_interval_seconds=30,
        default_status=status,
        description="Push: new files in the landing zone request ingestion of their dataset and "
        "days (one ranged run per dataset and run of consecutive days, bounded per tick).",
    )
    def landing_zone_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        from mlops_assets.lib.object_store import LandingLedger

        # In a bucket the ledger of handled (key, ETag) pairs tells what is new, not the time.
        ledger = LandingLedger.decode(context.cursor) if settings.landing_uri else None
        after = triggers.Watermark() if ledger else triggers.Watermark.decode(context.cursor)
        batch = triggers.scan_landing(
            _landing_entries(settings, after, ledger),
            after,
            max_runs=policy.sensor_max_runs_per_tick,
            max_days_per_run=policy.sensor_max_days_per_run,
        )
        for name, reason in batch.skipped:
            context.log.warning(f"landing zone: skipped {name} in {landing}: {reason}")
        requests = [
            dg.RunRequest(
                run_key=f"landing:{dataset}:{first}:{last}:{batch.watermark.encode()}",
                job_name=INGESTING_JOB[dataset].name,
                asset_selection=[dg.AssetKey(f"raw_{dataset}"), STAGED[dataset]],
                tags={
                    **_range_tags(first.isoformat(), last.isoformat()),
                    "trigger": "push",
                    "trigger_reason": f"{sum(f.dataset == dataset for f in batch.files)} new "
                    f"{dataset} file(s) in {landing}",
                },
            )
            for dataset, ranges in batch.ranges(policy.sensor_max_days_per_run).items()
            for first, last in ranges
        ]
        if batch.remaining:
            context.log.info(f"{batch.remaining} new file(s) left for the next tick")
        if ledger is not None:
            handled = [f.name for f in batch.files] + [name for name, _ in batch.skipped]
            cursor = ledger.advance(handled).encode()
        else:
            cursor = batch.watermark.encode()
        if not requests:
            return dg.SensorResult(skip_reason=f"no new files in {landing}", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    read_windows = _ReadWindows()

    @dg.sensor(
        name="inputs_complete_sensor",
        jobs=[forecast_job, daily_job],
        minimum_interval_seconds=30,
        default_status=status,
        description="Message-based: the forecast for day D is issued once D-1's consumption and "
        "D's weather forecast are staged (features, online store, predictions, drift), and D's "
        "forecast is scored once D's own consumption is staged. A late, re-sent or corrected "
        "input re-runs every day that reads it, as the partition mappings of consumption_features "
        "say (a corrected day C re-runs the forecasts of C+1 .. C+15), and their scores follow. "
        "Dagster's own staleness (STALE in the UI) follows the same mappings.",
    )
    def inputs_complete_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        instance = context.instance
        latest = {key: _latest_by_partition(instance, key) for key in FORECAST_INPUTS.values()}
        consumption = latest[STAGED["consumption"]]
        graph = _asset_graph(context)
        days = graph.get(FEATURES).partitions_def.get_partition_keys()
        newest_read: dict[str, dict[str, int]] = {}
        for name, key in FORECAST_INPUTS.items():
            windows = read_windows(graph, FEATURES, key, days)
            newest_read[name] = triggers.window_inputs(latest[key], windows)
            days = list(newest_read[name])  # the next input only for days still complete
        forecast_days = triggers.ready_days(newest_read, _latest_by_partition(instance, FEATURES))
        scoring_days = triggers.ready_days(
            {"consumption": consumption, "forecast": _latest_by_partition(instance, PREDICTIONS)},
            _latest_by_partition(instance, PERFORMANCE),
        )
        requests = [
            *_day_requests(
                forecast_days,
                forecast_job.name,
                FORECAST_FROM_STAGED,
                "forecast",
                "the consumption it reads and the day's weather forecast staged",
                policy.sensor_max_days_per_run,
            ),
            *_day_requests(
                scoring_days,
                daily_job.name,
                [PERFORMANCE],
                "score",
                "actuals staged for a day with a forecast",
                policy.sensor_max_days_per_run,
            ),
        ]
        if not requests:
            return dg.SkipReason("no day has new, complete inputs")
        return dg.SensorResult(run_requests=requests[: policy.sensor_max_runs_per_tick])

    @dg.sensor(
        name="drift_retraining_sensor",
        job=training_job,
        minimum_interval_seconds=60,
        default_status=status,
        description="Drift-triggered: retrain when a drift report's share of drifted columns "
        f"reaches MLOPS_DRIFT_SHARE_THRESHOLD ({policy.drift_share_threshold}).",
    )
    def drift_retraining_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        if context.cursor is None:
            # Start after the reports that exist when the sensor is first switched on.
            latest = context.instance.fetch_materializations(
                dg.AssetKey("drift_report"), limit=1
            ).records
            start = str(latest[0].storage_id) if latest else "0"
            return dg.SensorResult(skip_reason="starting after existing reports", cursor=start)
        after = int(context.cursor)
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("drift_report"), after_storage_id=after),
            limit=100,
            ascending=True,
        ).records
        if not records:
            return dg.SensorResult(skip_reason="no new drift report", cursor=str(after))
        cursor = str(max(r.storage_id for r in records))
        champion = _current_champion(context.instance)
        found = []
        for record in records:
            meta = record.asset_materialization.metadata  # type: ignore[union-attr]
            if "drift_share" not in meta:
                continue  # a day skipped for lack of history
            if not _of_champion(meta, champion):
                continue  # measured against a model that is no longer champion
            share = float(meta["drift_share"].value)  # type: ignore[arg-type]
            columns = list(meta["drifted_columns"].value)  # type: ignore[arg-type]
            trigger = triggers.drift_trigger(
                record.partition_key or "", share, columns, policy.drift_share_threshold
            )
            if trigger:
                found.append((record.storage_id, trigger))
        if not found:
            return dg.SensorResult(
                skip_reason=f"{len(records)} new report(s), none against champion v{champion} at "
                f"or above the threshold {policy.drift_share_threshold}",
                cursor=cursor,
            )
        if _training_in_flight(context, policy.training_stale_after_s):
            return dg.SensorResult(skip_reason="drift found, but a training run is in flight")
        storage_id, trigger = found[-1]
        context.log.info(trigger.reason)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"drift:{storage_id}",
                    tags={**trigger.tags, "trigger_reason": trigger.reason[:250]},
                )
            ],
            cursor=cursor,
        )

    @dg.sensor(
        name="performance_retraining_sensor",
        job=training_job,
        minimum_interval_seconds=60,
        default_status=status,
        description="Performance-triggered: retrain when the champion's realised daily WAPE "
        f"exceeds MLOPS_WAPE_THRESHOLD ({policy.wape_threshold}%) for "
        f"MLOPS_WAPE_CONSECUTIVE_DAYS ({policy.wape_consecutive_days}) days in a row; days "
        "inside the champion's training window (in_sample) do not count.",
    )
    def performance_retraining_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        records = context.instance.fetch_materializations(
            dg.AssetKey("prediction_performance"), limit=policy.wape_consecutive_days * 4
        ).records
        champion = _current_champion(context.instance)
        latest: dict[str, float] = {}
        for record in records:  # newest first: keep each day's latest figure
            meta = record.asset_materialization.metadata  # type: ignore[union-attr]
            if "champion_wape" not in meta:
                continue
            if "in_sample" in meta and meta["in_sample"].value is True:
                continue  # the champion trained on this day: its error says nothing
            if not _of_champion(meta, champion):
                continue  # scored by an earlier champion
            if record.partition_key and record.partition_key not in latest:
                latest[record.partition_key] = float(meta["champion_wape"].value)  # type: ignore[arg-type]
        trigger = triggers.performance_trigger(
            list(latest.items()), policy.wape_threshold, policy.wape_consecutive_days
        )
        if trigger is None:
            return dg.SkipReason("realised WAPE is within the threshold")
        key = f"performance:{trigger.tags['last_partition']}"
        if context.cursor == key:
            return dg.SkipReason(f"already requested retraining for {key}")
        if _training_in_flight(context, policy.training_stale_after_s):
            return dg.SkipReason("error too high, but a training run is in flight")
        context.log.info(trigger.reason)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=key, tags={**trigger.tags, "trigger_reason": trigger.reason[:250]}
                )
            ],
            cursor=key,
        )

    alerts_file = settings.data_dir / "alerts" / "alerts.jsonl"

    @dg.run_failure_sensor(
        name="run_failure_alert_sensor",
        monitor_all_code_locations=False,
        minimum_interval_seconds=30,
        default_status=status,
        description="Alarm: every failed run is written to data/alerts/alerts.jsonl and the log, "
        "and posted to MLOPS_ALERT_WEBHOOK_URL when set.",
    )
    def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> None:
        alert = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_id": context.dagster_run.run_id,
            "job": context.dagster_run.job_name,
            "trigger": context.dagster_run.tags.get("trigger", "manual"),
            "message": context.failure_event.message or "",
        }
        write_alert(alerts_file, alert, policy.alert_webhook_url, context.log)

    return [
        landing_zone_sensor,
        inputs_complete_sensor,
        drift_retraining_sensor,
        performance_retraining_sensor,
        run_failure_alert_sensor,
    ]


def _day_requests(
    ready: Mapping[str, int],
    job_name: str,
    selection: list[dg.AssetKey],
    kind: str,
    reason: str,
    max_days: int,
) -> list[dg.RunRequest]:
    """One ranged run per stretch of consecutive ready days; the run key carries the newest
    input, so a re-sent input runs its days again and a repeated tick does not."""
    days = [datetime.fromisoformat(d).date() for d in ready]
    requests = []
    for first, last in triggers.day_ranges(days, max_days):
        newest = max(v for d, v in ready.items() if first.isoformat() <= d <= last.isoformat())
        requests.append(
            dg.RunRequest(
                run_key=f"{kind}:{first}:{last}:{newest}",
                job_name=job_name,
                asset_selection=selection,
                tags={
                    **_range_tags(first.isoformat(), last.isoformat()),
                    "trigger": "message",
                    "trigger_reason": f"{reason}: {first}..{last}",
                },
            )
        )
    return requests


def _landing_entries(
    settings: Settings, after: triggers.Watermark, ledger: Any = None
) -> list[tuple[str, int]]:
    """(name, mtime_ns) of the landing files: one scandir locally; in a bucket, the objects the
    ledger (an object_store.LandingLedger) has not handled, listed through dagster-aws from its
    mark less LISTING_GRACE on (S3 timestamps are whole seconds)."""
    if not settings.landing_uri:
        return triggers.list_landing(settings.landing_dir, settings.landing_settle_seconds)
    from mlops_assets.lib.object_store import LandingLedger, client, list_landing_objects

    ledger = ledger if ledger is not None else LandingLedger()
    return ledger.pending(list_landing_objects(settings.landing_uri, ledger.since, client()))


def write_alert(path: Path, alert: dict[str, str], webhook_url: str, log: object) -> None:
    """Append the alert as one JSON line; post it to the webhook, never failing the sensor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(alert) + "\n")
    log.error(f"ALERT run {alert['run_id']} of {alert['job']} failed: {alert['message']}")  # type: ignore[attr-defined]
    if not webhook_url:
        return
    request = urllib.request.Request(
        webhook_url,
        data=json.dumps(alert).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            pass
    except OSError as error:
        log.warning(f"alert webhook {webhook_url} failed: {error}")  # type: ignore[attr-defined]

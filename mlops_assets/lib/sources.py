"""Where a day of raw data comes from: the generator, the Energi Data Service API or files."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from mlops_assets.lib import landing_zone
from mlops_assets.lib.energi_data_service import EnergiDataServiceClient
from mlops_assets.lib.generator import (
    GeneratorConfig,
    generate_consumption,
    generate_weather,
    generate_weather_forecast,
)
from mlops_assets.lib.schema import CONSUMPTION, WEATHER, WEATHER_FORECAST, DatasetSchema
from mlops_assets.lib.validation import day_window


@dataclass(frozen=True)
class Delivery:
    """One batch of rows for a dataset-day, with where it came from."""

    origin: str
    frame: pl.DataFrame | None = None
    read_error: str | None = None
    landing_file: landing_zone.LandingFile | None = None
    # Why the file is not taken yet (still being written); the day waits, nothing is quarantined.
    pending: str | None = None
    # s3://bucket/key of the object the landing file was fetched from; rejected, it moves to the
    # bucket's quarantine prefix too.
    remote: str = ""


@dataclass(frozen=True)
class SourceConfig:
    """Which source to use and what it needs."""

    kind: str
    landing_dir: Path
    generator: GeneratorConfig
    api_base_url: str = "https://api.energidataservice.dk"
    landing_uri: str = ""  # s3://bucket/prefix: fetch the day's files from there first
    settle_seconds: float = 10.0  # a landing file unchanged for less than this is not taken yet


def deliveries(config: SourceConfig, schema: DatasetSchema, day: date) -> list[Delivery]:
    """The batches the configured source delivers for `schema`'s dataset on `day`."""
    if config.kind == "landing":
        if config.landing_uri:
            from dataclasses import replace

            from mlops_assets.lib.object_store import fetch_day

            fetched = fetch_day(config.landing_uri, config.landing_dir, schema.name, day)
            remote_of = {f.path.name: f.remote for f in fetched}  # a rejected one moves there too
            # No settle time: an object is listed only once whole, and is renamed into place
            # whole; a download dates the file now, so any settle time would hold every day.
            return [
                replace(d, remote=remote_of[d.landing_file.path.name])
                if d.landing_file is not None and d.landing_file.path.name in remote_of
                else d
                for d in _from_landing(config.landing_dir, schema, day, settle_seconds=0)
            ]
        return _from_landing(config.landing_dir, schema, day, config.settle_seconds)
    start, end = day_window(day)
    if config.kind == "api" and schema is CONSUMPTION:
        client = EnergiDataServiceClient(config.api_base_url)
        frame = client.consumption(start, end, price_areas=config.generator.price_areas)
        return [Delivery(origin=f"{config.api_base_url}/dataset/ConsumptionDE35Hour", frame=frame)]
    if config.kind not in ("generator", "api"):
        raise ValueError(f"unknown source {config.kind!r}; use generator, api or landing")
    # Energi Data Service has no weather dataset, so the API source pairs with generated weather.
    # The real counterpart of the forecast would be DMI's open data forecast API (HARMONIE
    # DINI, EDR endpoint /collections/harmonie_dini_sf, parameter temperature-2m, two runs a day
    # kept with their run time as IssueUTC) or Open-Meteo's historical forecast API, which keeps
    # past runs so training sees the forecasts that were actually available; there is no client
    # yet because this sandbox has no internet.
    seed = config.generator.seed
    if schema is WEATHER_FORECAST:
        return [
            Delivery(
                origin=f"weather forecast generator (seed={seed})",
                frame=generate_weather_forecast(start, end, config.generator),
            )
        ]
    if schema is WEATHER:
        return [
            Delivery(
                origin=f"weather generator (seed={seed})",
                frame=generate_weather(start, end, config.generator),
            )
        ]
    return [
        Delivery(
            origin=f"consumption generator (seed={seed})",
            frame=generate_consumption(start, end, config.generator),
        )
    ]


def _from_landing(
    landing_dir: Path,
    schema: DatasetSchema,
    day: date,
    settle_seconds: float,
    now: float | None = None,
) -> list[Delivery]:
    """The day's landing files as deliveries. A symbolic link or other non-regular entry is never
    opened (a `read_error`, so it is quarantined as it is); a file changed less than
    `settle_seconds` before `now` (epoch seconds, default the current time) is `pending`, not
    read; an entry gone since listing (another run quarantined it) is left out."""
    now = time.time() if now is None else now
    out = []
    for file in landing_zone.list_files(landing_dir, schema.name, day):
        origin = str(file.path)
        try:
            refusal = file.refusal(landing_dir)
            pending = None if refusal else file.pending(settle_seconds, now)
        except FileNotFoundError:
            continue
        if refusal or pending:
            out.append(Delivery(origin, read_error=refusal, pending=pending, landing_file=file))
            continue
        try:
            out.append(Delivery(origin=origin, frame=file.read(), landing_file=file))
        except landing_zone.UnreadableFileError as err:
            out.append(Delivery(origin=origin, read_error=str(err), landing_file=file))
        except OSError as err:
            message = f"cannot be read: {landing_zone.cap(str(err))}"
            out.append(Delivery(origin=origin, read_error=message, landing_file=file))
    return out

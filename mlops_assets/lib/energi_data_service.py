"""Client for the Energi Data Service REST API (https://api.energidataservice.dk).

What the API guide (https://www.energidataservice.dk/guides/api-guides) documents:

- ``GET /dataset/<name>?start=..&end=..&filter=..&sort=..&offset=..&limit=..`` (also
  ``columns`` and, by example only, ``timezone``).
- ``start`` is included and ``end`` excluded, both on the dataset's time-range column, in the
  formats ``yyyy``, ``yyyy-MM``, ``yyyy-MM-dd`` or ``yyyy-MM-ddTHH:mm``. "The date and time
  refer to the Danish timezone" unless ``timezone=UTC`` is given; the guide shows that parameter
  only by example (``/dataset/CO2Emis?start=2022-01-01T00:00&end=2022-01-01T01:00&timezone=UTC``).
- ``filter`` is a JSON object of column -> list of allowed values (values OR-ed, columns AND-ed).
- ``sort`` is a comma-separated column list, ascending unless ``desc``; unsorted output is
  newest-first by the unique key.
- ``offset`` skips rows; ``limit`` caps them, and ``limit=0`` means *all* rows, so a page size
  of 0 is never sent.
- At most 40 requests per 10 s per IP, else HTTP 429 and a temporary ban of about 5 minutes.
- Error bodies are not documented; the message is read from a JSON ``message``/``error`` field
  when present, otherwise from the raw body.

The guide does not spell out the response; recorded responses (openhab/openhab-addons'
energidataservice test resources, the sample in hojlund123/APIDash's API notes) are
``{"total": <rows matching>, "filters": "<filter JSON>", "limit": .., "dataset": "<name>",
"records": [{...}, ...]}`` with ``HourUTC``/``HourDK`` as naive ISO strings
(``"2022-10-30T01:00:00"``, no ``Z``; openHAB's ``InstantDeserializer`` remarks on the missing Z).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from mlops_assets.lib.schema import (
    CONSUMER_TYPE,
    CONSUMPTION,
    HOUR_DK,
    HOUR_UTC,
    PRICE_AREA,
    TOTAL_CON,
)

logger = logging.getLogger(__name__)

CONSUMPTION_DATASET = "ConsumptionDE35Hour"
# The full key: offset paging is only stable when the sort order has no ties.
CONSUMPTION_SORT = f"{HOUR_UTC} ASC,{PRICE_AREA} ASC,{CONSUMER_TYPE} ASC"
# Longest a Retry-After may hold us; the API's ban lasts 5 minutes, a run should not.
MAX_RETRY_AFTER_SECONDS = 120.0
# Denmark is UTC+1 or UTC+2, so this margin covers either reading of start/end.
_DANISH_OFFSET_MARGIN = timedelta(hours=2)
_TIME_FORMAT = "%Y-%m-%dT%H:%M"
_RECORD_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
_MAX_MESSAGE_CHARS = 500
_USER_AGENT = "mlops-assets (energi-data-service client)"


class EnergiDataServiceError(RuntimeError):
    """A request to Energi Data Service failed or returned something unusable."""


class EnergiDataServiceClient:
    """Fetches datasets page by page; retries rate limits, server errors and lost connections."""

    def __init__(
        self,
        base_url: str = "https://api.energidataservice.dk",
        *,
        page_size: int = 10_000,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        progress: Callable[[int, int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1 (limit=0 means 'all'), got {page_size}")
        if max_retries < 0:
            raise ValueError(f"max_retries must not be negative, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.progress = progress
        self._sleep = sleep

    def iter_records(
        self,
        dataset: str,
        start: datetime,
        end: datetime,
        *,
        filters: Mapping[str, Sequence[str | int]] | None = None,
        sort: str = "HourUTC ASC",
    ) -> Iterator[dict[str, Any]]:
        """Records of `dataset` in [start, end), page by page; the window is sent in UTC."""
        start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
        if end_utc <= start_utc:
            return iter(())
        params: dict[str, str] = {
            "start": _format_start(start_utc),
            "end": _format_end(end_utc),
            # Without it start/end are Danish local time, which is ambiguous on the autumn DST day.
            "timezone": "UTC",
            "sort": sort,
        }
        if filters:
            params["filter"] = json.dumps(
                {column: list(values) for column, values in filters.items()},
                separators=(",", ":"),
            )
        return self._pages(dataset, params)

    def _pages(self, dataset: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self._get_page(
                dataset, {**params, "offset": str(offset), "limit": str(self.page_size)}
            )
            records, total = page["records"], page["total"]
            offset += len(records)
            logger.info(
                "%s: page at offset %d returned %d records (%d/%d fetched)",
                dataset,
                offset - len(records),
                len(records),
                offset,
                total,
            )
            if self.progress is not None:
                self.progress(offset, total)
            yield from records
            if offset >= total:
                return
            if not records:
                raise EnergiDataServiceError(
                    f"Energi Data Service dataset {dataset!r} reported {total} records but "
                    f"returned an empty page at offset {offset}; the data may have changed while "
                    "paging. Re-run the request."
                )

    def consumption(
        self,
        start: datetime,
        end: datetime,
        *,
        price_areas: Sequence[str] | None = None,
        consumer_types: Sequence[int] | None = None,
    ) -> pl.DataFrame:
        """Hourly consumption in [start, end) on HourUTC, with exactly the CONSUMPTION schema."""
        start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
        filters: dict[str, Sequence[str | int]] = {}
        if price_areas is not None:
            filters[PRICE_AREA] = _non_empty(price_areas, "price_areas")
        if consumer_types is not None:
            filters[CONSUMER_TYPE] = _non_empty(consumer_types, "consumer_types")
        # timezone=UTC is documented only by example; if the server ever read start/end as Danish
        # time the window would shift by 1-2 h and silently lose the last hours. Asking for the
        # margin on both sides and cutting on HourUTC below is correct under either reading.
        records = list(
            self.iter_records(
                CONSUMPTION_DATASET,
                start_utc - _DANISH_OFFSET_MARGIN,
                end_utc + _DANISH_OFFSET_MARGIN,
                filters=filters or None,
                sort=CONSUMPTION_SORT,
            )
        )
        frame = consumption_frame(records)
        hour = pl.col(HOUR_UTC)
        # A record without HourUTC is kept so validation reports it instead of it vanishing here.
        return frame.filter(hour.is_null() | ((hour >= start_utc) & (hour < end_utc)))

    def _get_page(self, dataset: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = self._url(dataset, params)
        body = self._get_with_retries(dataset, url)
        try:
            page = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EnergiDataServiceError(
                f"Energi Data Service returned invalid JSON for dataset {dataset!r} "
                f"(GET {url}): {exc}; body starts with {_excerpt(body)!r}"
            ) from exc
        if (
            not isinstance(page, dict)
            or not isinstance(page.get("records"), list)
            or not isinstance(page.get("total"), int)
        ):
            raise EnergiDataServiceError(
                f"Energi Data Service response for dataset {dataset!r} (GET {url}) lacks an "
                f"integer 'total' and a 'records' list; body starts with {_excerpt(body)!r}"
            )
        return page

    def _url(self, dataset: str, params: Mapping[str, str]) -> str:
        query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        return f"{self.base_url}/dataset/{urllib.parse.quote(dataset)}?{query}"

    def _get_with_retries(self, dataset: str, url: str) -> bytes:
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": _USER_AGENT}
        )
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}: {_server_message(exc)}"
                if exc.code != 429 and exc.code < 500:
                    raise EnergiDataServiceError(
                        f"Energi Data Service rejected the request for dataset {dataset!r} "
                        f"with {problem} (GET {url}); check the dataset name, filter columns "
                        "and parameters"
                    ) from exc
                retry_after = _retry_after_seconds(
                    exc.headers.get("Retry-After") if exc.headers else None
                )
                error: Exception = exc
            except (http.client.HTTPException, OSError) as exc:  # URLError is an OSError
                problem = f"connection error: {exc}"
                error = exc
            if attempt == attempts - 1:
                raise EnergiDataServiceError(
                    f"Energi Data Service request for dataset {dataset!r} failed after "
                    f"{attempts} attempts; last {problem} (GET {url}). The service may be down "
                    "or rate-limiting this IP; try again later"
                ) from error
            delay = self.backoff_seconds * 2**attempt
            if retry_after is not None:
                delay = min(retry_after, MAX_RETRY_AFTER_SECONDS)
            logger.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.1f s",
                dataset,
                attempt + 1,
                attempts,
                problem,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def consumption_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """ConsumptionDE35Hour records as a frame with the CONSUMPTION schema; nothing is cleaned."""
    # Built column by column so a record missing a field yields a null, not a shifted row.
    raw = {column: [record.get(column) for record in records] for column in CONSUMPTION.columns}
    try:
        frame = pl.DataFrame(
            {
                HOUR_UTC: pl.Series(HOUR_UTC, raw[HOUR_UTC], dtype=pl.String),
                HOUR_DK: pl.Series(HOUR_DK, raw[HOUR_DK], dtype=pl.String),
                PRICE_AREA: pl.Series(PRICE_AREA, raw[PRICE_AREA], dtype=pl.String),
                CONSUMER_TYPE: pl.Series(CONSUMER_TYPE, raw[CONSUMER_TYPE], dtype=pl.Int32),
                TOTAL_CON: pl.Series(TOTAL_CON, raw[TOTAL_CON], dtype=pl.Float64),
            }
        ).with_columns(
            _parse_hour(HOUR_UTC).dt.replace_time_zone("UTC"),
            _parse_hour(HOUR_DK),
        )
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as exc:
        raise EnergiDataServiceError(
            f"Energi Data Service dataset {CONSUMPTION_DATASET!r} returned records that do not "
            f"fit the consumption schema {CONSUMPTION.columns}: {exc}"
        ) from exc
    return frame.select(CONSUMPTION.column_names).cast(CONSUMPTION.columns)


def _parse_hour(column: str) -> pl.Expr:
    # Tolerate a trailing Z in case the API starts sending one.
    return (
        pl.col(column)
        .str.strip_suffix("Z")
        .str.to_datetime(_RECORD_TIME_FORMAT, time_unit="us", strict=True)
    )


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _format_start(moment: datetime) -> str:
    # The API takes minutes; flooring start can only widen the window.
    return moment.strftime(_TIME_FORMAT)


def _format_end(moment: datetime) -> str:
    # Ceiling end to the minute so a sub-minute end never cuts off the last record.
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return moment.strftime(_TIME_FORMAT)


def _non_empty(values: Sequence[Any], name: str) -> list[Any]:
    if isinstance(values, str) or not values:
        raise ValueError(f"{name} must be a non-empty list of values or None, got {values!r}")
    return list(values)


def _retry_after_seconds(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _server_message(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read()
    except OSError:
        body = b""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict):
        parts = [str(payload[key]) for key in ("error", "message") if payload.get(key)]
        if parts:
            return _excerpt(": ".join(parts).encode())
    return _excerpt(body) or str(error.reason)


def _excerpt(body: bytes) -> str:
    return body[:_MAX_MESSAGE_CHARS].decode("utf-8", errors="replace").strip()

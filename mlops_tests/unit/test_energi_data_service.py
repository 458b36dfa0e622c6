"""The Energi Data Service client against a local HTTP server replaying recorded responses."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from mlops_assets.lib import schema
from mlops_assets.lib.energi_data_service import (
    CONSUMPTION_DATASET,
    MAX_RETRY_AFTER_SECONDS,
    EnergiDataServiceClient,
    EnergiDataServiceError,
)
from mlops_tests.eds_server import FakeEnergiDataService, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "energi_data_service"
# The recorded pages cover 2022-10-29T21:00Z..2022-10-30T02:00Z: Danish midnight at 22:00Z and
# the autumn DST change, where HourDK 02:00 occurs twice (00:00Z and 01:00Z).
WINDOW_START = datetime(2022, 10, 29, 22, tzinfo=UTC)
WINDOW_END = datetime(2022, 10, 30, 2, tzinfo=UTC)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_records(name: str) -> list[dict[str, Any]]:
    return json.loads(fixture_bytes(name))["records"]


def client_for(service: FakeEnergiDataService, **options: Any) -> EnergiDataServiceClient:
    settings: dict[str, Any] = {"page_size": 4, "timeout": 5.0, "backoff_seconds": 0.0}
    return EnergiDataServiceClient(service.url, **(settings | options))


def reply_two_pages(service: FakeEnergiDataService) -> None:
    service.reply(fixture_bytes("consumption_page_1.json"))
    service.reply(fixture_bytes("consumption_page_2.json"))


def test_paging_reassembles_all_records_in_order_and_stops_at_total(
    eds: FakeEnergiDataService,
) -> None:
    reply_two_pages(eds)
    # Served only if the client asked past `total`.
    eds.reply(fixture_bytes("consumption_quirks.json"))

    records = list(client_for(eds).iter_records(CONSUMPTION_DATASET, WINDOW_START, WINDOW_END))

    expected = fixture_records("consumption_page_1.json") + fixture_records(
        "consumption_page_2.json"
    )
    assert records == expected
    assert [(r.params["offset"], r.params["limit"]) for r in eds.received] == [
        ("0", "4"),
        ("4", "4"),
    ]


def test_iter_records_sends_window_in_utc_with_timezone_filter_and_sort(
    eds: FakeEnergiDataService,
) -> None:
    eds.reply(fixture_bytes("consumption_empty.json"))
    copenhagen = ZoneInfo(schema.DANISH_TZ)
    # 23:00 and 03:00 Danish summer/winter time are 21:00Z and 02:00Z.
    start = datetime(2022, 10, 29, 23, tzinfo=copenhagen)
    end = datetime(2022, 10, 30, 3, tzinfo=copenhagen)

    list(
        client_for(eds).iter_records(
            CONSUMPTION_DATASET,
            start,
            end,
            filters={"PriceArea": ["DK1", "DK2"], "ConsumerType_DE35": [111]},
            sort="HourUTC ASC",
        )
    )

    (request,) = eds.received
    assert request.path == "/dataset/ConsumptionDE35Hour"
    assert request.params["start"] == "2022-10-29T21:00"
    assert request.params["end"] == "2022-10-30T02:00"
    assert request.params["timezone"] == "UTC"
    assert request.params["sort"] == "HourUTC ASC"
    assert json.loads(request.params["filter"]) == {
        "PriceArea": ["DK1", "DK2"],
        "ConsumerType_DE35": [111],
    }
    assert "+" not in request.raw_query  # spaces go out as %20, which every server decodes


def test_iter_records_rounds_a_sub_minute_end_up(eds: FakeEnergiDataService) -> None:
    eds.reply(fixture_bytes("consumption_empty.json"))
    end = WINDOW_END + timedelta(seconds=30)

    list(client_for(eds).iter_records(CONSUMPTION_DATASET, WINDOW_START, end))

    assert eds.received[0].params["end"] == "2022-10-30T02:01"


def test_consumption_widens_request_by_danish_offset_and_filters_by_area_and_type(
    eds: FakeEnergiDataService,
) -> None:
    reply_two_pages(eds)

    client_for(eds).consumption(
        WINDOW_START, WINDOW_END, price_areas=["DK1", "DK2"], consumer_types=[111]
    )

    first = eds.received[0].params
    assert first["start"] == "2022-10-29T20:00"
    assert first["end"] == "2022-10-30T04:00"
    assert first["timezone"] == "UTC"
    assert first["sort"] == "HourUTC ASC,PriceArea ASC,ConsumerType_DE35 ASC"
    assert json.loads(first["filter"]) == {"PriceArea": ["DK1", "DK2"], "ConsumerType_DE35": [111]}


def test_consumption_without_filters_sends_no_filter(eds: FakeEnergiDataService) -> None:
    eds.reply(fixture_bytes("consumption_empty.json"))

    client_for(eds).consumption(WINDOW_START, WINDOW_END)

    assert "filter" not in eds.received[0].params


def test_consumption_has_exactly_the_schema_columns_and_dtypes(
    eds: FakeEnergiDataService,
) -> None:
    reply_two_pages(eds)

    frame = client_for(eds).consumption(WINDOW_START, WINDOW_END)

    assert frame.columns == schema.CONSUMPTION.column_names
    assert dict(frame.schema) == schema.CONSUMPTION.columns


def test_consumption_parses_hours_across_midnight_and_dst(eds: FakeEnergiDataService) -> None:
    reply_two_pages(eds)

    frame = (
        client_for(eds)
        .consumption(WINDOW_START, WINDOW_END)
        .filter(pl.col(schema.PRICE_AREA) == "DK1")
    )

    assert frame[schema.HOUR_UTC].to_list() == [WINDOW_START + timedelta(hours=h) for h in range(4)]
    assert frame[schema.HOUR_DK].to_list() == [
        datetime(2022, 10, 30, 0),
        datetime(2022, 10, 30, 1),
        datetime(2022, 10, 30, 2),
        datetime(2022, 10, 30, 2),
    ]
    assert frame[schema.TOTAL_CON].to_list() == [548812.304, 497031.5, 463120.871, 448906.0]


def test_consumption_keeps_only_hours_in_the_half_open_window(
    eds: FakeEnergiDataService,
) -> None:
    reply_two_pages(eds)

    frame = client_for(eds).consumption(WINDOW_START, WINDOW_END)

    hours = frame[schema.HOUR_UTC]
    assert frame.height == 5
    assert hours.min() == WINDOW_START
    assert hours.max() == WINDOW_END - timedelta(hours=1)


def test_empty_result_gives_an_empty_frame_with_the_schema(eds: FakeEnergiDataService) -> None:
    eds.reply(fixture_bytes("consumption_empty.json"))

    frame = client_for(eds).consumption(WINDOW_START, WINDOW_END, price_areas=["DK1"])

    assert frame.height == 0
    assert dict(frame.schema) == schema.CONSUMPTION.columns
    assert len(eds.received) == 1


def test_bad_records_are_passed_through_for_validation(eds: FakeEnergiDataService) -> None:
    eds.reply(fixture_bytes("consumption_quirks.json"))

    frame = client_for(eds, page_size=10_000).consumption(WINDOW_START, WINDOW_END)

    assert frame.height == 5  # the duplicate is kept
    assert frame[schema.TOTAL_CON].to_list() == [-12.5, -12.5, None, 401004.25, 98765.5]
    assert frame[schema.CONSUMER_TYPE].to_list() == [111, 111, 111, None, 112]
    assert frame[schema.HOUR_UTC].is_null().to_list() == [False, False, False, False, True]
    assert dict(frame.schema) == schema.CONSUMPTION.columns


def test_unparseable_hour_raises_naming_the_dataset(eds: FakeEnergiDataService) -> None:
    page = json.loads(fixture_bytes("consumption_page_1.json"))
    page["total"] = 4
    page["records"][1]["HourUTC"] = "30/10/2022 00:00"
    eds.reply(json.dumps(page).encode())

    with pytest.raises(EnergiDataServiceError, match="ConsumptionDE35Hour"):
        client_for(eds).consumption(WINDOW_START, WINDOW_END)


def test_400_raises_with_server_message_dataset_and_url_without_retrying(
    eds: FakeEnergiDataService,
) -> None:
    eds.reply(fixture_bytes("error_400.json"), status=400)
    eds.default = Reply(body=fixture_bytes("consumption_empty.json"))

    with pytest.raises(EnergiDataServiceError) as caught:
        client_for(eds).consumption(WINDOW_START, WINDOW_END, price_areas=["DK1"])

    message = str(caught.value)
    assert "'ConsumptionDE35Hour'" in message
    assert "HTTP 400" in message
    assert "Column 'PriceAreaX' in filter does not exist" in message
    assert f"{eds.url}/dataset/ConsumptionDE35Hour?" in message
    assert len(eds.received) == 1


def test_backoff_doubles_after_each_failure(eds: FakeEnergiDataService) -> None:
    for _ in range(3):
        eds.reply(b"Service Unavailable", status=503)
    eds.reply(fixture_bytes("consumption_empty.json"))
    delays: list[float] = []

    frame = client_for(eds, backoff_seconds=0.5, sleep=delays.append).consumption(
        WINDOW_START, WINDOW_END
    )

    assert frame.height == 0
    assert len(eds.received) == 4
    assert delays == [0.5, 1.0, 2.0]


def test_503_twice_then_success_with_zero_backoff(eds: FakeEnergiDataService) -> None:
    eds.reply(b"", status=503)
    eds.reply(b"", status=503)
    reply_two_pages(eds)

    frame = client_for(eds).consumption(WINDOW_START, WINDOW_END)

    assert frame.height == 5
    assert [r.params["offset"] for r in eds.received] == ["0", "0", "0", "4"]


def test_503_forever_raises_after_max_retries(eds: FakeEnergiDataService) -> None:
    eds.default = Reply(503, b'{"message": "upstream database unavailable"}')

    with pytest.raises(EnergiDataServiceError) as caught:
        client_for(eds, max_retries=2).consumption(WINDOW_START, WINDOW_END)

    assert len(eds.received) == 3
    message = str(caught.value)
    assert "after 3 attempts" in message
    assert "HTTP 503" in message
    assert "upstream database unavailable" in message
    assert "'ConsumptionDE35Hour'" in message


def test_429_waits_for_retry_after_capped(eds: FakeEnergiDataService) -> None:
    eds.reply(b"", status=429, headers={"Retry-After": "7"})
    eds.reply(b"", status=429, headers={"Retry-After": "3600"})
    eds.reply(fixture_bytes("consumption_empty.json"))
    delays: list[float] = []

    client_for(eds, sleep=delays.append).consumption(WINDOW_START, WINDOW_END)

    assert delays == [7.0, MAX_RETRY_AFTER_SECONDS]


def test_dropped_connection_is_retried(eds: FakeEnergiDataService) -> None:
    eds.replies.append(Reply(drop_connection=True))
    eds.reply(fixture_bytes("consumption_empty.json"))

    client_for(eds).consumption(WINDOW_START, WINDOW_END)

    assert len(eds.received) == 2


def test_invalid_json_raises(eds: FakeEnergiDataService) -> None:
    eds.reply(b"<html><body>Gateway maintenance</body></html>")

    with pytest.raises(EnergiDataServiceError, match=r"invalid JSON for dataset 'Consumption"):
        client_for(eds).consumption(WINDOW_START, WINDOW_END)


def test_json_without_records_raises(eds: FakeEnergiDataService) -> None:
    eds.reply(b'{"total": 3}')

    with pytest.raises(EnergiDataServiceError, match="'records' list"):
        list(client_for(eds).iter_records(CONSUMPTION_DATASET, WINDOW_START, WINDOW_END))


def test_empty_page_before_total_raises_instead_of_returning_partial_data(
    eds: FakeEnergiDataService,
) -> None:
    eds.reply(fixture_bytes("consumption_page_1.json"))
    empty = json.loads(fixture_bytes("consumption_empty.json")) | {"total": 7}
    eds.reply(json.dumps(empty).encode())

    with pytest.raises(EnergiDataServiceError, match="empty page at offset 4"):
        client_for(eds).consumption(WINDOW_START, WINDOW_END)


def test_progress_is_reported_after_every_page(eds: FakeEnergiDataService) -> None:
    reply_two_pages(eds)
    calls: list[tuple[int, int]] = []

    client_for(eds, progress=lambda fetched, total: calls.append((fetched, total))).consumption(
        WINDOW_START, WINDOW_END
    )

    assert calls == [(4, 7), (7, 7)]


def test_one_info_line_per_page(
    eds: FakeEnergiDataService, caplog: pytest.LogCaptureFixture
) -> None:
    reply_two_pages(eds)

    with caplog.at_level(logging.INFO, logger="mlops_assets.lib.energi_data_service"):
        client_for(eds).consumption(WINDOW_START, WINDOW_END)

    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert lines == [
        "ConsumptionDE35Hour: page at offset 0 returned 4 records (4/7 fetched)",
        "ConsumptionDE35Hour: page at offset 4 returned 3 records (7/7 fetched)",
    ]


def test_naive_datetimes_are_rejected_before_any_request(eds: FakeEnergiDataService) -> None:
    client = client_for(eds)

    with pytest.raises(ValueError, match="timezone-aware"):
        client.iter_records(CONSUMPTION_DATASET, datetime(2022, 10, 29, 22), WINDOW_END)
    with pytest.raises(ValueError, match="timezone-aware"):
        client.consumption(WINDOW_START, datetime(2022, 10, 30, 2))
    assert eds.received == []


def test_empty_filter_list_is_rejected(eds: FakeEnergiDataService) -> None:
    with pytest.raises(ValueError, match="price_areas"):
        client_for(eds).consumption(WINDOW_START, WINDOW_END, price_areas=[])
    assert eds.received == []

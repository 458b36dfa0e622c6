"""Landing files: naming rule, reading every accepted format, round trips and quarantine."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib.generator import GeneratorConfig, generate_consumption, generate_weather
from mlops_assets.lib.landing_zone import (
    FORMATS,
    LandingFile,
    UnreadableFileError,
    landing_path,
    list_files,
    quarantine,
    write_file,
)
from mlops_assets.lib.schema import CONSUMPTION, TOTAL_CON, WEATHER, DatasetSchema
from mlops_assets.lib.validation import VALIDITY, ValidationReport, Violation, coerce

DAY = date(2025, 1, 3)
START = datetime(2025, 1, 3, tzinfo=UTC)
CONFIG = GeneratorConfig(n_consumer_types=3)


@pytest.fixture(scope="module")
def consumption() -> pl.DataFrame:
    return generate_consumption(START, START + timedelta(days=1), CONFIG)


@pytest.fixture(scope="module")
def weather() -> pl.DataFrame:
    return generate_weather(START, START + timedelta(days=1), CONFIG)


def landing_file(path: Path) -> LandingFile:
    parsed = LandingFile.parse(path)
    assert parsed is not None, f"{path.name} should follow the naming rule"
    return parsed


def read_coerced(path: Path, schema: DatasetSchema) -> pl.DataFrame:
    coerced, violations = coerce(landing_file(path).read(), schema)
    assert violations == []
    assert coerced is not None
    return coerced


# --- naming ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "dataset", "fmt"),
    [
        ("consumption_2025-01-03.csv", "consumption", "csv"),
        ("weather_2025-01-03_DK1.parquet", "weather", "parquet"),
        ("consumption_2025-01-03_part-2.json", "consumption", "json"),
        ("weather_forecast_2025-01-03.parquet", "weather_forecast", "parquet"),
        ("weather_forecast_2025-01-03_run-18.csv", "weather_forecast", "csv"),
    ],
)
def test_names_following_the_rule_are_parsed(
    tmp_path: Path, name: str, dataset: str, fmt: str
) -> None:
    parsed = LandingFile.parse(tmp_path / name)

    assert parsed == LandingFile(path=tmp_path / name, dataset=dataset, day=DAY, fmt=fmt)


@pytest.mark.parametrize(
    "name",
    [
        "consumption_2025-02-30.csv",
        "consumption_2025-1-3.csv",
        "consumption_03-01-2025.csv",
        "consumption_2025-01-03.xlsx",
        "consumption_2025-01-03.csv.bak",
        "consumption_2025-01-03_.csv",
        "consumption-2025-01-03.csv",
        "Consumption_2025-01-03.csv",
        "consumption.csv",
        "README.md",
    ],
)
def test_names_breaking_the_rule_are_ignored(tmp_path: Path, name: str) -> None:
    assert LandingFile.parse(tmp_path / name) is None


def test_landing_path_follows_the_naming_rule(tmp_path: Path) -> None:
    path = landing_path(tmp_path, "weather", DAY, "parquet", tag="DK2")

    assert path == tmp_path / "weather_2025-01-03_DK2.parquet"
    assert landing_file(path).day == DAY
    assert landing_path(tmp_path, "consumption", DAY, "csv").name == "consumption_2025-01-03.csv"


def test_list_files_filters_by_dataset_and_day(tmp_path: Path) -> None:
    names = [
        "consumption_2025-01-03.csv",
        "consumption_2025-01-03_DK2.json",
        "consumption_2025-01-04.parquet",
        "weather_2025-01-03.csv",
        "consumption_2025-01-03.txt",
        "notes.md",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    # A folder whose name follows the rule is listed, to be quarantined, but refused for reading.
    (tmp_path / "consumption_2025-01-03_old.csv").mkdir()

    def listed(dataset: str | None = None, day: date | None = None) -> list[str]:
        return [f.path.name for f in list_files(tmp_path, dataset, day)]

    assert listed() == [
        "consumption_2025-01-03.csv",
        "consumption_2025-01-03_DK2.json",
        "consumption_2025-01-03_old.csv",
        "consumption_2025-01-04.parquet",
        "weather_2025-01-03.csv",
    ]
    assert listed(dataset="consumption", day=DAY) == [
        "consumption_2025-01-03.csv",
        "consumption_2025-01-03_DK2.json",
        "consumption_2025-01-03_old.csv",
    ]
    folder = landing_file(tmp_path / "consumption_2025-01-03_old.csv")
    assert folder.kind() == "directory"
    assert "not a regular file (a directory)" in (folder.refusal(tmp_path) or "")
    assert landing_file(tmp_path / "consumption_2025-01-03.csv").refusal(tmp_path) is None
    assert listed(day=date(2025, 1, 4)) == ["consumption_2025-01-04.parquet"]
    assert listed(dataset="weather") == ["weather_2025-01-03.csv"]
    assert list_files(tmp_path / "not-created-yet") == []


# --- reading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_written_files_round_trip_through_coerce(
    tmp_path: Path, consumption: pl.DataFrame, weather: pl.DataFrame, fmt: str
) -> None:
    for frame, schema in ((consumption, CONSUMPTION), (weather, WEATHER)):
        path = write_file(frame, landing_path(tmp_path / "landing", schema.name, DAY, fmt))

        assert read_coerced(path, schema).equals(frame)


def test_comma_separated_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "weather_2025-01-03.csv"
    path.write_text("HourUTC,PriceArea,Temperature\n2025-01-03T00:00:00Z,DK1,-1.5\n")

    frame = read_coerced(path, WEATHER)

    assert frame.rows() == [(START, "DK1", -1.5)]


def test_energi_data_service_csv_with_decimal_comma_is_read(tmp_path: Path) -> None:
    # The format of a CSV download from energidataservice.dk.
    path = tmp_path / "consumption_2025-01-03.csv"
    path.write_text(
        "HourUTC;HourDK;PriceArea;ConsumerType_DE35;TotalCon\n"
        "2025-01-03 00:00;2025-01-03 01:00;DK1;111;12345,678\n"
        "2025-01-03 01:00;2025-01-03 02:00;DK2;112;7,5\n"
    )

    frame = read_coerced(path, CONSUMPTION)

    assert frame.get_column(TOTAL_CON).to_list() == [12345.678, 7.5]
    assert frame.get_column("ConsumerType_DE35").to_list() == [111, 112]
    assert frame.get_column("HourDK").to_list() == [
        datetime(2025, 1, 3, 1),
        datetime(2025, 1, 3, 2),
    ]


RECORDS = [
    {"HourUTC": "2025-01-03T00:00:00", "PriceArea": "DK1", "Temperature": 1.5},
    {"HourUTC": "2025-01-03T01:00:00", "PriceArea": "DK1", "Temperature": 2},
]


@pytest.mark.parametrize(
    "payload", [{"total": 2, "records": RECORDS}, RECORDS], ids=["api-response", "plain-list"]
)
def test_json_records_are_read(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "weather_2025-01-03_DK1.json"
    path.write_text(json.dumps(payload))

    frame = read_coerced(path, WEATHER)

    assert frame.rows() == [(START, "DK1", 1.5), (START + timedelta(hours=1), "DK1", 2.0)]


def test_json_keeps_unparseable_values_for_the_schema_rule(tmp_path: Path) -> None:
    path = tmp_path / "weather_2025-01-03.json"
    path.write_text(json.dumps([RECORDS[0], {**RECORDS[1], "Temperature": "n/a"}]))

    _, violations = coerce(landing_file(path).read(), WEATHER)

    assert [(v.column, v.examples) for v in violations] == [("Temperature", ("'n/a'",))]


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        ("csv", b""),
        ("csv", b"\xff\xfe\x00binary"),
        ("parquet", b"HourUTC,PriceArea\n"),
        ("parquet", b""),
        ("json", b"{not json"),
        ("json", b'{"data": []}'),
        ("json", b'{"records": 5}'),
        ("json", b"[1, 2, 3]"),
        ("json", b"\xff\xfe"),
    ],
)
def test_unreadable_files_raise_a_named_error(tmp_path: Path, fmt: str, content: bytes) -> None:
    path = tmp_path / f"weather_2025-01-03.{fmt}"
    path.write_bytes(content)

    with pytest.raises(UnreadableFileError, match=f"cannot be read as {fmt.upper()}"):
        landing_file(path).read()


def test_writing_an_unknown_format_is_refused(tmp_path: Path, weather: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown landing format 'xlsx'"):
        write_file(weather, tmp_path / "weather_2025-01-03.xlsx")


# --- quarantine -----------------------------------------------------------------------------------


def rejection(origin: str) -> ValidationReport:
    violation = Violation(VALIDITY, TOTAL_CON, "3 rows: value is negative", 3, ("-1.0",))
    return ValidationReport("consumption", DAY, origin, (violation,))


def test_quarantine_moves_the_file_and_explains_why(tmp_path: Path) -> None:
    landing, quarantine_dir = tmp_path / "landing", tmp_path / "quarantine"
    path = landing_path(landing, "consumption", DAY, "csv")
    landing.mkdir()
    path.write_text("delivered bytes")

    target = quarantine(landing_file(path), quarantine_dir, rejection(str(path)))

    assert not path.exists()
    assert target == quarantine_dir / "consumption" / "2025-01-03" / path.name
    assert target.read_text() == "delivered bytes"
    reason = Path(f"{target}.reason.txt").read_text()
    for needle in (path.name, "partition 2025-01-03", "'TotalCon'", "[validity]", str(landing)):
        assert needle in reason
    details = json.loads(Path(f"{target}.reason.json").read_text())
    assert details["file"] == str(path)
    assert details["partition"] == "2025-01-03"
    assert details["failed_rules"] == [VALIDITY]
    assert details["violations"] == [
        {
            "rule": VALIDITY,
            "column": TOTAL_CON,
            "message": "3 rows: value is negative",
            "rows": 3,
            "examples": ["-1.0"],
        }
    ]
    assert list_files(landing) == []


def test_quarantine_keeps_an_earlier_file_of_the_same_name(tmp_path: Path) -> None:
    landing, quarantine_dir = tmp_path / "landing", tmp_path / "quarantine"
    path = landing_path(landing, "consumption", DAY, "json")
    landing.mkdir()
    path.write_text("first delivery")
    first = quarantine(landing_file(path), quarantine_dir, rejection(str(path)))
    path.write_text("second delivery")

    second = quarantine(landing_file(path), quarantine_dir, rejection(str(path)))

    assert second != first
    assert second.parent == first.parent
    assert second.suffix == ".json"
    assert first.read_text() == "first delivery"
    assert second.read_text() == "second delivery"
    for target in (first, second):
        assert Path(f"{target}.reason.txt").exists()
        assert Path(f"{target}.reason.json").exists()

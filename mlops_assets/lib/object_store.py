"""A landing zone in an S3 bucket (`s3://bucket/prefix`): list it and fetch a day's files into
the local landing folder, where they are read and quarantined like any other landing file.
boto3 honours AWS_ENDPOINT_URL, so MinIO, SeaweedFS or moto work the same as AWS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from mlops_assets.lib.landing_zone import FILE_NAME


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ending in "/"

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
            raise ValueError(f"{uri!r} is not an s3://bucket[/prefix] URI")
        bucket, _, prefix = uri[5:].partition("/")
        return cls(bucket, prefix.strip("/") + "/" if prefix.strip("/") else "")

    def name_of(self, key: str) -> str | None:
        """The landing file name of an object directly under the prefix (None for deeper keys)."""
        rest = key[len(self.prefix) :]
        return rest if key.startswith(self.prefix) and rest and "/" not in rest else None


@dataclass(frozen=True)
class S3Mirror:
    """The lake's durable copy in a bucket: every partition written locally is uploaded, and a
    partition missing on local disk (a fresh pod, a new machine) is fetched on first read."""

    uri: str
    s3: Any  # a boto3 S3 client (the Dagster resource builds it through dagster-aws)

    @property
    def where(self) -> S3Location:
        return S3Location.parse(self.uri)

    def key(self, relative: str) -> str:
        return f"{self.where.prefix}{relative}"

    def upload(self, path: Path, relative: str) -> None:
        self.s3.upload_file(str(path), self.where.bucket, self.key(relative))

    def download(self, relative: str, path: Path) -> bool:
        """Fetch one object atomically into `path`; False if the bucket has no such object."""
        from botocore.exceptions import ClientError

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.download")
        try:
            self.s3.download_file(self.where.bucket, self.key(relative), str(partial))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
                return False
            raise
        partial.replace(path)
        return True

    def list(self, relative_prefix: str) -> list[str]:
        """Keys under `relative_prefix`, relative to the mirror's prefix."""
        paginator = self.s3.get_paginator("list_objects_v2")
        start = len(self.where.prefix)
        return [
            item["Key"][start:]
            for page in paginator.paginate(
                Bucket=self.where.bucket, Prefix=self.key(relative_prefix)
            )
            for item in page.get("Contents", [])
        ]


def client() -> Any:
    import boto3

    return boto3.client("s3")


def fetch_day(uri: str, landing_dir: Path, dataset: str, day: date, s3: Any = None) -> list[Path]:
    """Download the objects named `<dataset>_<day>[_tag].<fmt>` into `landing_dir`."""
    where = S3Location.parse(uri)
    s3 = s3 or client()
    landing_dir.mkdir(parents=True, exist_ok=True)
    fetched = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=where.bucket, Prefix=f"{where.prefix}{dataset}_{day}"):
        for item in page.get("Contents", []):
            name = where.name_of(item["Key"])
            match = FILE_NAME.match(name or "")
            if not match or match["dataset"] != dataset or match["day"] != day.isoformat():
                continue
            target = landing_dir / name  # type: ignore[operator]
            partial = target.with_name(f".{target.name}.download")
            s3.download_file(where.bucket, item["Key"], str(partial))
            partial.replace(target)
            fetched.append(target)
    return fetched

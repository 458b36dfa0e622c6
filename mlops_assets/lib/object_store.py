"""A landing zone in an S3 bucket (`s3://bucket/prefix`): list it and fetch a day's files into
the local landing folder, where they are read and quarantined like any other landing file; a
rejected object moves to the bucket's `<prefix>quarantine/` with its reasons. The push sensor
remembers the (key, ETag) pairs it has handled, so a late-listed or re-uploaded object is seen.
boto3 honours AWS_ENDPOINT_URL, so MinIO, SeaweedFS or moto work the same as AWS."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_assets.lib.landing_zone import FILE_NAME

# Rejected objects move under `<prefix>quarantine/<dataset>/<day>/`; keys with a "/" after the
# prefix are never landing files, so nothing there is listed or fetched again.
QUARANTINE_PREFIX = "quarantine/"
# How far behind its watermark the push sensor still looks. An object can be listed later than
# its LastModified says: a multipart upload is dated when it began, a replicated or restored copy
# keeps its source's date, and some S3-compatible stores list a new object late. Within this
# window the sensor tells new from handled by (key, ETag), not by time; an object that first
# shows up more than this behind the newest one handled is missed.
LISTING_GRACE = timedelta(hours=1)
_GRACE_NS = int(LISTING_GRACE.total_seconds()) * 1_000_000_000
_PLAIN_MD5 = re.compile(r"[0-9a-f]{32}")


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


@dataclass(frozen=True)
class Fetched:
    """A landing file downloaded from the bucket, and which object version it is."""

    path: Path
    remote: str  # s3://bucket/key
    etag: str
    last_modified: datetime


def fetch_day(
    uri: str, landing_dir: Path, dataset: str, day: date, s3: Any = None
) -> list[Fetched]:
    """Download the objects named `<dataset>_<day>[_tag].<fmt>` into `landing_dir`, each through
    a hidden partial file renamed into place, dated with the object's LastModified."""
    from botocore.exceptions import ClientError

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
            try:  # the version read is the one the response describes, even if replaced since
                response = s3.get_object(Bucket=where.bucket, Key=item["Key"])
            except ClientError as error:
                if _code(error) in {"NoSuchKey", "404"}:
                    continue  # deleted (or quarantined by another run) since the listing
                raise
            with response["Body"] as body, partial.open("wb") as out:
                shutil.copyfileobj(body, out)
            modified = response["LastModified"].timestamp()
            os.utime(partial, (modified, modified))
            partial.replace(target)
            remote = f"s3://{where.bucket}/{item['Key']}"
            fetched.append(Fetched(target, remote, response["ETag"], response["LastModified"]))
    return fetched


def quarantine_object(remote: str, quarantined: Path, s3: Any = None) -> str:
    """Move the rejected object `remote` (s3://bucket/<prefix><name>) to
    `<prefix>quarantine/<dataset>/<day>/<name>` in its bucket, a free name (`<stem>.1<ext>`, ...)
    if that one is taken, with the reason files written beside its local copy `quarantined`
    uploaded next to it as `<key>.reason.json` and `<key>.reason.txt`; return the new URI.

    Copy, reasons, then delete, so a crash leaves the object twice, never nowhere. The original
    is deleted only while it is still the version that was fetched (the local copy's size and
    LastModified, and its MD5 where the ETag is one): an object replaced since is a new delivery
    and stays, and the rejected bytes are uploaded from the local copy instead."""
    from botocore.exceptions import ClientError

    bucket, _, key = remote.removeprefix("s3://").partition("/")
    if not remote.startswith("s3://") or not bucket or not key:
        raise ValueError(f"{remote!r} is not an s3://bucket/key URI")
    prefix, _, name = key.rpartition("/")
    prefix = f"{prefix}/" if prefix else ""
    match = FILE_NAME.match(name)
    if match is None:
        raise ValueError(f"{remote!r} is not a landing object <dataset>_<YYYY-MM-DD>[_tag].<fmt>")
    s3 = s3 or client()
    folder = f"{prefix}{QUARANTINE_PREFIX}{match['dataset']}/{match['day']}/"
    target = _free_key(s3, bucket, folder, name)
    current = _head(s3, bucket, key)
    same = current is not None and _is_local_copy(current, quarantined)
    if same:
        try:
            s3.copy_object(
                Bucket=bucket,
                Key=target,
                CopySource={"Bucket": bucket, "Key": key},
                CopySourceIfMatch=current["ETag"],  # type: ignore[index]
            )
        except ClientError as error:
            if _code(error) not in {"PreconditionFailed", "412", "NoSuchKey", "404"}:
                raise
            same = False  # replaced or removed between the check and the copy
    if not same:
        s3.upload_file(str(quarantined), bucket, target)
    for suffix in (".reason.json", ".reason.txt"):
        reason = Path(f"{quarantined}{suffix}")
        if reason.exists():
            s3.upload_file(str(reason), bucket, f"{target}{suffix}")
    if same:
        s3.delete_object(Bucket=bucket, Key=key)
    return f"s3://{bucket}/{target}"


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise


def _free_key(s3: Any, bucket: str, folder: str, name: str) -> str:
    """`folder + name`, or `<stem>.<n><ext>` with the first n whose key is not taken."""
    stem, dot, ext = name.rpartition(".")
    candidate, n = f"{folder}{name}", 0
    while _head(s3, bucket, candidate) is not None:
        n += 1
        candidate = f"{folder}{stem}.{n}{dot}{ext}"
    return candidate


def _is_local_copy(head: Mapping[str, Any], local: Path) -> bool:
    """Whether the object `head` describes is the version downloaded to `local` (fetch_day
    dates the file with the object's LastModified; S3 dates are whole seconds)."""
    stat = local.stat()
    if head.get("ContentLength") != stat.st_size:
        return False
    if int(head["LastModified"].timestamp()) != int(stat.st_mtime):
        return False
    etag = str(head.get("ETag", "")).strip('"')
    encrypted = head.get("ServerSideEncryption") not in (None, "AES256") or head.get(
        "SSECustomerAlgorithm"
    )
    if _PLAIN_MD5.fullmatch(etag) and not encrypted:  # a single-part upload's ETag is its MD5
        return hashlib.md5(local.read_bytes(), usedforsecurity=False).hexdigest() == etag
    return True


@dataclass(frozen=True)
class LandingObject:
    name: str  # the landing file name: the key after the prefix
    etag: str
    modified_ns: int  # LastModified in whole seconds, as nanoseconds


def list_landing_objects(uri: str, since: datetime | None, s3: Any = None) -> list[LandingObject]:
    """The landing files in the bucket modified after `since` (all with None), listed through
    dagster-aws; deeper keys (the quarantine) are not landing files."""
    from dagster_aws.s3.sensor import get_objects

    where = S3Location.parse(uri)
    objects = get_objects(where.bucket, where.prefix, since_last_modified=since, client=s3)
    return [
        LandingObject(name, str(item.get("ETag", "")), _whole_ns(item["LastModified"]))
        for item in objects
        if (name := where.name_of(item["Key"]))
    ]


def _whole_ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


@dataclass
class LandingLedger:
    """The S3 push sensor's cursor: the LastModified of the newest object handled (the mark)
    and the (name, ETag) pairs handled within LISTING_GRACE of it. An object is new unless it
    is older than the window or its pair was handled, so an object listed late is still seen
    and a re-upload under the same name (a new ETag) is seen again. Encoded as JSON
    `{"v": 2, "mark": <ns>, "seen": {name: [etag, LastModified ns]}}`; a cursor of the earlier
    `<mtime_ns>:<name>` watermark decodes too (everything up to it was handled)."""

    mark_ns: int = -1
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)
    legacy: tuple[int, str] | None = None
    listed: dict[str, LandingObject] = field(default_factory=dict)  # the last listing

    def encode(self) -> str:
        seen = {name: [etag, ns] for name, (etag, ns) in sorted(self.seen.items())}
        return json.dumps({"v": 2, "mark": self.mark_ns, "seen": seen}, separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: str | None) -> LandingLedger:
        if not cursor:
            return cls()
        if cursor.startswith("{"):
            data = json.loads(cursor)
            seen = {name: (str(etag), int(ns)) for name, (etag, ns) in data["seen"].items()}
            return cls(int(data["mark"]), seen)
        mtime, _, name = cursor.partition(":")  # the triggers.Watermark format
        return cls(int(mtime), legacy=(int(mtime), name))

    @property
    def since(self) -> datetime | None:
        """List from here on: the mark less the grace window (None lists everything)."""
        if self.mark_ns < 0:
            return None
        start = self.mark_ns // 1_000_000_000 - int(LISTING_GRACE.total_seconds()) - 1
        return datetime.fromtimestamp(max(start, 0), tz=UTC)

    def handled(self, item: LandingObject) -> bool:
        if self.mark_ns >= 0 and item.modified_ns < self.mark_ns - _GRACE_NS:
            return True
        if self.legacy is not None and (item.modified_ns, item.name) <= self.legacy:
            return True
        seen = self.seen.get(item.name)
        return seen is not None and seen[0] == item.etag

    def pending(self, listing: Iterable[LandingObject]) -> list[tuple[str, int]]:
        """(name, LastModified ns) of the listed objects not handled yet; remembers the listing."""
        self.listed = {item.name: item for item in listing}
        return [(i.name, i.modified_ns) for i in self.listed.values() if not self.handled(i)]

    def advance(self, taken: Iterable[str]) -> LandingLedger:
        """The ledger once the objects named `taken` (of the last listing) are handled."""
        done = [self.listed[name] for name in taken if name in self.listed]
        if self.legacy is not None:  # remember what the old watermark covered by its ETags
            done += [i for i in self.listed.values() if self.handled(i)]
        mark = max([self.mark_ns, *(i.modified_ns for i in done)])
        seen = {**self.seen, **{i.name: (i.etag, i.modified_ns) for i in done}}
        return LandingLedger(
            mark, {n: (e, ns) for n, (e, ns) in seen.items() if ns >= mark - _GRACE_NS}
        )

"""Where the screenshots and files of each send are kept, so that every coordinator can serve
what any worker host wrote (docs/operations.md#several-machines):

* ``MIKOMI_EVIDENCE_URL=file:///path`` (default ``<MIKOMI_VAR_DIR>/evidence``): a directory,
  local or a mount shared by the hosts;
* ``MIKOMI_EVIDENCE_URL=s3://bucket/prefix``: an S3 bucket (or any S3-compatible store at
  ``MIKOMI_S3_ENDPOINT_URL``), credentials and region the standard AWS way (environment,
  ``~/.aws``, instance role).

Objects are ``<reservation>/<item>/<name>``. A worker writes a send's files into a local
folder, then :meth:`put_folder` puts them in the store.

The same store carries uploaded files to the host that works on them: an uploaded prospect
file waits under ``imports/<name>`` until the import job (on any import worker host) has read
it (``put_upload``, ``fetch_upload``, ``delete_upload``; docs/operations.md#prospect-imports).
"""

from __future__ import annotations

import mimetypes
import re
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from shared.config import Settings, get_settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
UPLOADS = "imports"  # the store's folder of uploaded files waiting for their job


def _upload_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class EvidenceStore(Protocol):
    def put_folder(self, reservation_id: int, item_id: int, folder: Path) -> None: ...
    def names(self, reservation_id: int, item_id: int) -> list[str]: ...
    def read(self, reservation_id: int, item_id: int, name: str) -> bytes | None: ...
    def local_folder(self, reservation_id: int, item_id: int) -> Path | None: ...
    def put_upload(self, name: str, path: Path) -> None: ...
    def fetch_upload(self, name: str, scratch: Path) -> Path | None: ...
    def upload_names(self, prefix: str) -> list[str]: ...
    def delete_upload(self, name: str) -> None: ...


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def local_folder(self, reservation_id: int, item_id: int) -> Path | None:
        """The folder the worker writes into directly (no copy needed)."""
        return self.root / str(reservation_id) / str(item_id)

    def put_folder(self, reservation_id: int, item_id: int, folder: Path) -> None:
        target = self.local_folder(reservation_id, item_id)
        assert target is not None
        if folder.resolve() == target.resolve():
            return
        target.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            if path.is_file() and NAME.match(path.name):
                shutil.copyfile(path, target / path.name)

    def names(self, reservation_id: int, item_id: int) -> list[str]:
        folder = self.local_folder(reservation_id, item_id)
        if folder is None or not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file() and NAME.match(p.name))

    def read(self, reservation_id: int, item_id: int, name: str) -> bytes | None:
        folder = self.local_folder(reservation_id, item_id)
        if folder is None or not NAME.match(name):
            return None
        path = folder / name
        return path.read_bytes() if path.is_file() else None

    def _upload(self, name: str) -> Path:
        return self.root / UPLOADS / _upload_name(name)

    def put_upload(self, name: str, path: Path) -> None:
        """Moves ``path`` into the store (a rename on the same file system)."""
        target = self._upload(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)

    def fetch_upload(self, name: str, scratch: Path) -> Path | None:
        """The file itself: read in place, no copy."""
        path = self._upload(name)
        return path if path.is_file() else None

    def upload_names(self, prefix: str) -> list[str]:
        folder = self.root / UPLOADS
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.glob(f"{_upload_name(prefix)}*") if p.is_file())

    def delete_upload(self, name: str) -> None:
        self._upload(name).unlink(missing_ok=True)


class S3Store:
    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client

    def _key(self, reservation_id: int, item_id: int, name: str = "") -> str:
        parts = [p for p in (self.prefix, str(reservation_id), str(item_id)) if p]
        return "/".join(parts) + "/" + name

    def local_folder(self, reservation_id: int, item_id: int) -> Path | None:
        return None  # the worker writes to a temporary folder, then uploads

    def put_folder(self, reservation_id: int, item_id: int, folder: Path) -> None:
        for path in sorted(folder.iterdir()):
            if path.is_file() and NAME.match(path.name):
                self.client.upload_file(
                    str(path),
                    self.bucket,
                    self._key(reservation_id, item_id, path.name),
                    ExtraArgs={"ContentType": content_type(path.name)},
                )

    def names(self, reservation_id: int, item_id: int) -> list[str]:
        prefix = self._key(reservation_id, item_id)
        names: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) :]
                if NAME.match(name):
                    names.append(name)
        return sorted(names)

    def read(self, reservation_id: int, item_id: int, name: str) -> bytes | None:
        if not NAME.match(name):
            return None
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=self._key(reservation_id, item_id, name)
            )
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = answer["Body"].read()
        return body

    def _upload_key(self, name: str) -> str:
        return "/".join(p for p in (self.prefix, UPLOADS, _upload_name(name)) if p)

    def put_upload(self, name: str, path: Path) -> None:
        """Uploads ``path`` (in parts, from disk), then removes the local file."""
        self.client.upload_file(str(path), self.bucket, self._upload_key(name))
        path.unlink(missing_ok=True)

    def fetch_upload(self, name: str, scratch: Path) -> Path | None:
        """Downloads the file into ``scratch`` (streamed to disk, never whole in memory)."""
        from botocore.exceptions import ClientError

        scratch.mkdir(parents=True, exist_ok=True)
        target = scratch / _upload_name(name)
        try:
            self.client.download_file(self.bucket, self._upload_key(name), str(target))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                target.unlink(missing_ok=True)
                return None
            raise
        return target

    def upload_names(self, prefix: str) -> list[str]:
        folder = self._upload_key(_upload_name(prefix))[: -len(prefix)]
        names: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder + prefix
        ):
            names.extend(obj["Key"][len(folder) :] for obj in page.get("Contents", []))
        return sorted(n for n in names if NAME.match(n))

    def delete_upload(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._upload_key(name))


def store_for(settings: Settings) -> EvidenceStore:
    url = settings.evidence_url.strip()
    if not url:
        return FileStore(Path(settings.var_dir) / "evidence")
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileStore(Path(unquote(parts.path)))
    if parts.scheme == "s3" and parts.netloc:
        import boto3

        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url or None)
        return S3Store(parts.netloc, parts.path, client)
    raise ValueError(f"MIKOMI_EVIDENCE_URL must be file:///path or s3://bucket/prefix, not {url!r}")


@lru_cache(maxsize=4)
def _cached(evidence_url: str, s3_endpoint_url: str, var_dir: str) -> EvidenceStore:
    return store_for(
        Settings(evidence_url=evidence_url, s3_endpoint_url=s3_endpoint_url, var_dir=Path(var_dir))
    )


def get_store() -> EvidenceStore:
    """The configured store (one S3 client per process, not one per request)."""
    settings = get_settings()
    return _cached(settings.evidence_url, settings.s3_endpoint_url, str(settings.var_dir))

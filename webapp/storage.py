"""Media bytes behind one small interface: an S3/MinIO bucket, or a local directory (embedded mode).

Both stream: nothing here reads a whole file into memory.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol

from flask import Flask, current_app

from webapp.settings import Settings

CHUNK = 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")


class StorageError(RuntimeError):
    """Storage could not be reached or did not have the object (transient unless said otherwise)."""


def check_key(key: str) -> str:
    """Keys are made by us (``media/ab/<sha256>``); refuse anything that could escape a directory."""
    if not _KEY_RE.match(key) or ".." in key.split("/"):
        raise ValueError(f"bad storage key {key!r}")
    return key


class Storage(Protocol):
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None: ...
    def download(self, key: str, path: Path) -> None: ...
    def stream(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]: ...
    def size(self, key: str) -> int | None: ...
    def delete(self, key: str) -> None: ...
    def ping(self) -> None: ...


class LocalStorage:
    """Objects as files under one root directory."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".uploading")
        shutil.copyfile(path, tmp)
        os.replace(tmp, dest)  # readers never see half a file

    def download(self, key: str, path: Path) -> None:
        try:
            shutil.copyfile(self._path(key), path)
        except FileNotFoundError:
            raise StorageError(f"the stored media {key} is missing") from None

    def stream(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        try:
            fh = open(self._path(key), "rb")
        except FileNotFoundError:
            raise StorageError(f"the stored media {key} is missing") from None
        with fh:
            fh.seek(start)
            left = length
            while left is None or left > 0:
                chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not writable")


class S3Storage:
    """A bucket on MinIO or any S3 endpoint, through the ``minio`` SDK (only calls both speak)."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool = False):
        from minio import Minio

        if "://" in endpoint:
            scheme, endpoint = endpoint.split("://", 1)
            secure = scheme == "https"
        self.bucket = bucket
        self.client = Minio(endpoint.rstrip("/"), access_key=access_key, secret_key=secret_key, secure=secure)

    def ensure_bucket(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            self.client.make_bucket(self.bucket)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        # fput_object streams from disk in parts (multipart above 5 MiB).
        self.client.fput_object(
            self.bucket, check_key(key), str(path), content_type=content_type or "application/octet-stream",
            part_size=PART_SIZE,
        )

    def download(self, key: str, path: Path) -> None:
        from minio.error import S3Error

        try:
            self.client.fget_object(self.bucket, check_key(key), str(path))
        except S3Error as exc:
            raise StorageError(f"could not fetch {key} from bucket {self.bucket}: {exc.code}") from exc

    def stream(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        resp = self.client.get_object(self.bucket, check_key(key), offset=start, length=length or 0)
        try:
            yield from resp.stream(CHUNK)
        finally:
            resp.close()
            resp.release_conn()

    def open_object(self, bucket: str, key: str) -> BinaryIO:
        """A readable stream of any object (bucket events name objects we did not write)."""
        return self.client.get_object(bucket, key)

    def size(self, key: str) -> int | None:
        from minio.error import S3Error

        try:
            return self.client.stat_object(self.bucket, check_key(key)).size
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, check_key(key))

    def ping(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            raise StorageError(f"bucket {self.bucket} does not exist")


def from_settings(settings: Settings) -> Storage:
    """Build the storage backend the settings ask for (an S3 client has its own connection pool: build it once,
    in ``init_app`` or a role's start-up, and share it)."""
    if settings.storage_backend == "s3":
        return S3Storage(
            settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_bucket,
            settings.s3_secure,
        )
    return LocalStorage(settings.media_dir)


def init_app(app: Flask) -> None:
    """Build the app's one storage client (the app factory calls this; no network yet)."""
    app.extensions["scriptorium.storage"] = from_settings(app.config["SCRIPTORIUM"])


def get() -> Storage:
    """The current app's storage client."""
    return current_app.extensions["scriptorium.storage"]

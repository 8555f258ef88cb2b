"""MinIO's notification JSON, exactly as its webhook and Redis (access format) targets send it."""
from __future__ import annotations

import json
from urllib.parse import quote_plus


def record(bucket: str, key: str, size: int, etag: str, event: str = "s3:ObjectCreated:Put") -> dict:
    """One event record; MinIO URL-encodes the key with Go's url.QueryEscape ("/" -> %2F, " " -> +)."""
    return {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": "2026-11-29T10:15:42.713Z",
        "eventName": event,
        "userIdentity": {"principalId": "minioadmin"},
        "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "172.18.0.1"},
        "responseElements": {
            "x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8",
            "x-amz-request-id": "187C1B9D5E0B4C3A",
            "x-minio-deployment-id": "0b7f1b5c-3a4e-4b7d-9d2a-6c1f0e9a8b7c",
            "x-minio-origin-endpoint": "http://172.18.0.3:9000",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "minioadmin"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key), "size": size, "eTag": etag, "contentType": "audio/wav",
                       "userMetadata": {"content-type": "audio/wav"}, "sequencer": "187C1B9D5E3D2A11"},
        },
        "source": {"host": "172.18.0.1", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7.0.90 mc/2025"},
    }


def webhook(bucket: str, key: str, size: int, etag: str, event: str = "s3:ObjectCreated:Put") -> dict:
    """The body of MinIO's webhook POST."""
    return {"EventName": event, "Key": f"{bucket}/{key}", "Records": [record(bucket, key, size, etag, event)]}


def redis_access(bucket: str, key: str, size: int, etag: str, event: str = "s3:ObjectCreated:Put") -> str:
    """One entry MinIO RPUSHes onto its Redis list in ``access`` format."""
    return json.dumps([{"Event": [record(bucket, key, size, etag, event)], "EventTime": "2026-11-29T10:15:42Z"}])

"""Arrival without a browser: the watched folder and MinIO bucket events, both ending in ``submit_media``."""

"""Throwaway PostgreSQL and Redis for a benchmark run: started in a temp dir, stopped and removed afterwards."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from scriptorium.embedded import EmbeddedPostgres, EmbeddedRedis, free_port


@contextmanager
def throwaway(prefix: str, *, database: str = "bench",
              appendonly: bool = False) -> Iterator[tuple[Path, EmbeddedPostgres, EmbeddedRedis]]:
    """(root dir, PostgreSQL, Redis), both on free ports; PostgreSQL without fsync (benchmarks only)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # PostgreSQL runs as `nobody` when we are root
    pg = EmbeddedPostgres(root / "pg", free_port(), database=database, fast_unsafe=True)
    redis = EmbeddedRedis(root / "redis", free_port(), appendonly=appendonly)
    try:
        pg.start()
        redis.start()
        yield root, pg, redis
    finally:
        redis.stop()
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)

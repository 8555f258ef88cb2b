"""Browser tests: Playwright driving Debian's Chromium against a live server of the test app.

The server is werkzeug's, in a thread of the test process, serving the same app (and so the same PostgreSQL,
Redis and S3) the other tests use. Jobs run in this process's main thread through ``run_jobs`` while the
browser keeps polling the live server, so a status that turns to "done" on screen got there by htmx alone.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SCRIPTORIUM_CHROMIUM", "/usr/bin/chromium")
# The README's screenshots are refreshed by `make screenshots` (SCRIPTORIUM_SCREENSHOTS=1); an ordinary test run
# still takes them, into a temporary folder, so the working tree stays clean.
SCREENSHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots"
               if os.environ.get("SCRIPTORIUM_SCREENSHOTS") == "1"
               else Path(os.environ.get("TMPDIR", "/tmp")) / "scriptorium-screenshots")


def pytest_collection_modifyitems(config, items):
    """A missing Chromium fails these tests (`make test` installs it); skip them only when asked to."""
    if os.environ.get("SCRIPTORIUM_SKIP_BROWSER") == "1":
        skip = pytest.mark.skip(reason="SCRIPTORIUM_SKIP_BROWSER=1")
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)
    elif not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        raise pytest.UsageError(f"no Chromium at {CHROMIUM}: apt-get install chromium (or SCRIPTORIUM_SKIP_BROWSER=1)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, pointed at the system Chromium (see ../shared/RECIPES.md)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}, "accept_downloads": True}


@pytest.fixture(scope="session")
def live_server(_session_app):
    """The test app on http://127.0.0.1:<free port> for the whole session."""
    from werkzeug.serving import make_server

    from scriptorium.embedded import free_port

    port = free_port()
    server = make_server("127.0.0.1", port, _session_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def shot():
    """shot(page, name): a full-page screenshot in docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take

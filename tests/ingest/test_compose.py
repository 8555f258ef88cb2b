"""docker-compose.yml cannot run here (no Docker engine): check its structure against the code instead."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from webapp import settings as settings_mod
from scriptorium.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
ROLES = {"migrate": ["scriptorium", "db", "upgrade"], "web": ["scriptorium", "web"],
         "worker": ["scriptorium", "worker"], "ingest": ["scriptorium", "ingest"]}
ONE_SHOT = {"migrate", "minio-init"}
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", line)
        if m:
            values[m.group(1)] = m.group(2)
    return values


def setting_names() -> set[str]:
    """Every environment variable the settings module reads."""
    source = Path(settings_mod.__file__).read_text()
    return set(re.findall(r'env(?:\.get)?[\[(]"([A-Z][A-Z0-9_]+)"', source))


def interpolate(value, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with .env.example as the .env file."""
    def sub(m):
        name, op, arg = m.groups()
        if env.get(name):
            return env[name]
        assert op != "?", f"{name} is required by docker-compose.yml but empty in .env.example"
        return arg if op == "-" else ""
    return _VAR.sub(sub, str(value)).replace("$$", "$")


def test_every_service_is_there_with_its_image_and_restart_policy(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "minio", "minio-init", "migrate", "web", "worker", "worker-gpu",
                             "ingest"}
    gpu = services["worker-gpu"]  # opt-in (`--profile gpu`), the Dockerfile's gpu target, the same queue
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["target"] == "gpu" and "AS gpu" in (ROOT / "Dockerfile").read_text()
    assert gpu["command"] == services["worker"]["command"] and gpu["environment"]["WHISPER_DEVICE"] == "cuda"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["redis"]["command"][-2:] == ["--appendonly", "yes"]
    assert services["minio"]["image"].startswith("minio/minio")
    for name, svc in services.items():
        assert svc["restart"] == ("no" if name in ONE_SHOT else "unless-stopped"), name
    for name in ("postgres", "redis", "minio", "web"):
        assert services[name]["healthcheck"]["test"], name


def test_roles_run_the_commands_the_cli_has_after_migrations(compose):
    services = compose["services"]
    for role, command in ROLES.items():
        assert services[role]["command"] == command
        assert services[role]["image"] == "scriptorium:latest" and services[role]["build"] == "."
    assert {"web", "worker", "ingest", "db"} <= set(cli.commands) and "upgrade" in cli.commands["db"].commands
    for role in ("web", "worker", "ingest"):
        deps = services[role]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]  # --scale worker=N
    text = (ROOT / "docker-compose.yml").read_text()
    assert "driver: nvidia" in text and "capabilities: [gpu]" in text  # the commented GPU variant


def test_each_role_gets_valid_settings_it_needs(compose, env_example):
    names = setting_names()
    loaded = {}
    for role in ("migrate", "web", "worker", "ingest"):
        env = {k: interpolate(v, env_example) for k, v in compose["services"][role]["environment"].items()}
        assert set(env) <= names, f"{role} gets variables the settings module does not read: {set(env) - names}"
        loaded[role] = settings_mod.load(env)  # production mode: raises naming anything missing or malformed
        assert loaded[role].production and loaded[role].storage_backend == "s3"
    assert loaded["web"].minio_webhook_token
    assert loaded["worker"].whisper_device in ("cpu", "cuda")
    assert str(loaded["ingest"].watch_dir) == "/inbox"


def test_minio_posts_bucket_events_to_the_hook_with_the_shared_token(compose):
    minio_env = compose["services"]["minio"]["environment"]
    target = next(k.rsplit("_", 1)[1] for k in minio_env if k.startswith("MINIO_NOTIFY_WEBHOOK_ENDPOINT_"))
    assert minio_env[f"MINIO_NOTIFY_WEBHOOK_ENABLE_{target}"] == "on"
    assert minio_env[f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{target}"] == "http://web:8000/hooks/minio"
    assert minio_env[f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{target}"].startswith("${MINIO_WEBHOOK_TOKEN")
    assert compose["services"]["web"]["environment"]["MINIO_WEBHOOK_TOKEN"].startswith("${MINIO_WEBHOOK_TOKEN")
    init = "\n".join(compose["services"]["minio-init"]["entrypoint"])
    assert "mc mb --ignore-existing" in init
    assert f"mc event add \"local/$$INBOX\" arn:minio:sqs::{target}:webhook --event put" in init
    assert compose["services"]["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_volumes_are_named_and_the_inbox_is_bind_mounted(compose):
    services, declared = compose["services"], set(compose["volumes"])
    assert {"pgdata", "redisdata", "miniodata"} <= declared
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redisdata:/data" in services["redis"]["volumes"] and "miniodata:/data" in services["minio"]["volumes"]
    assert "./inbox:/inbox" in services["ingest"]["volumes"]
    for svc in services.values():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            assert source.startswith(".") or source in declared, vol


def test_env_example_lists_every_setting_without_real_secrets(env_example):
    missing = setting_names() - set(env_example)
    assert not missing, f".env.example does not mention {sorted(missing)}"
    for key in ("SECRET_KEY", "POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "S3_SECRET_KEY", "MINIO_WEBHOOK_TOKEN"):
        assert "change-me" in env_example[key], key


def test_the_image_the_compose_file_builds_exists():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11" in dockerfile
    for needed in ("COPY migrations", "COPY templates", "COPY ingest", "pip install -e .", "ffmpeg"):
        assert needed in dockerfile, needed

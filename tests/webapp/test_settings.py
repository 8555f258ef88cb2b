"""Settings: production mode names what is missing; embedded mode needs nothing."""
import pytest

from webapp import settings as s


def test_embedded_mode_needs_no_configuration(tmp_path):
    cfg = s.load({"SCRIPTORIUM_DATA_DIR": str(tmp_path)})
    assert cfg.mode == "embedded"
    assert cfg.storage_backend == "local"
    assert cfg.database_url.startswith("postgresql+psycopg://scriptorium:")
    assert cfg.watch_dir == tmp_path / "inbox"
    # the generated secret is kept, so sessions survive a restart
    assert s.load({"SCRIPTORIUM_DATA_DIR": str(tmp_path)}).secret_key == cfg.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_mode_names_every_missing_setting():
    with pytest.raises(s.SettingsError) as err:
        s.load({"DATABASE_URL": "postgresql://db/x"})
    assert "REDIS_URL" in str(err.value) and "SECRET_KEY" in str(err.value)


def test_production_mode_requires_s3_credentials_with_an_endpoint():
    env = {"DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r:6379/0", "SECRET_KEY": "x" * 32,
           "S3_ENDPOINT": "minio:9000"}
    with pytest.raises(s.SettingsError, match="S3_ACCESS_KEY, S3_SECRET_KEY"):
        s.load(env)


@pytest.mark.parametrize("key,value,needle", [
    ("DATABASE_URL", "mysql://db/x", "DATABASE_URL"),
    ("REDIS_URL", "localhost:6379", "REDIS_URL"),
    ("MAX_UPLOAD_MB", "lots", "MAX_UPLOAD_MB"),
    ("S3_SECURE", "maybe", "S3_SECURE"),
    ("SECRET_KEY", "short", "SECRET_KEY"),
    ("WEB_WORKERS", "0", "WEB_WORKERS"),
    ("SIGNIN_MAX_FAILURES", "many", "SIGNIN_MAX_FAILURES"),
])
def test_malformed_settings_are_named(key, value, needle):
    env = {"DATABASE_URL": "postgres://u:p@db/x", "REDIS_URL": "redis://r:6379/0", "SECRET_KEY": "x" * 32,
           "S3_ENDPOINT": "minio:9000", "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b", key: value}
    with pytest.raises(s.SettingsError, match=needle):
        s.load(env)


def test_production_settings_are_read():
    cfg = s.load({"DATABASE_URL": "postgres://u:p@db/x", "REDIS_URL": "redis://r:6379/0", "SECRET_KEY": "x" * 32,
                  "S3_ENDPOINT": "minio:9000", "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b", "S3_SECURE": "true",
                  "MAX_UPLOAD_MB": "10"})
    assert cfg.production and cfg.storage_backend == "s3" and cfg.s3_secure
    assert cfg.database_url == "postgresql+psycopg://u:p@db/x"
    assert cfg.max_upload_mb == 10


def test_every_knob_the_roles_use_is_a_setting(tmp_path):
    """The web command line, the models folder, the aligner, the hub token, sign-in limits and the first admin
    come from Settings: nothing else reads the environment."""
    cfg = s.load({"SCRIPTORIUM_DATA_DIR": str(tmp_path), "BIND": "127.0.0.1:9000", "WEB_WORKERS": "5",
                  "SCRIPTORIUM_MODELS_DIR": str(tmp_path / "models"), "SCRIPTORIUM_ALIGN_MODEL": "wav2vec-dir",
                  "HF_TOKEN": "hf_x", "SIGNIN_MAX_FAILURES": "3", "SIGNIN_WINDOW_S": "60",
                  "SCRIPTORIUM_ADMIN_PASSWORD": "pw-for-automation", "SCRIPTORIUM_ADMIN_TOKEN": "scr_t"})
    assert (cfg.web_bind, cfg.web_workers) == ("127.0.0.1:9000", 5)
    assert cfg.models_dir == tmp_path / "models"
    assert (cfg.align_model, cfg.hf_token) == ("wav2vec-dir", "hf_x")
    assert (cfg.signin_max_failures, cfg.signin_window_s) == (3, 60)
    assert (cfg.admin_password, cfg.admin_token) == ("pw-for-automation", "scr_t")
    shown = repr(cfg)  # what a log line or a traceback would print
    assert "hf_x" not in shown and "pw-for-automation" not in shown and cfg.secret_key not in shown
    defaults = s.load({"SCRIPTORIUM_DATA_DIR": str(tmp_path)})
    assert (defaults.web_bind, defaults.web_workers, defaults.signin_max_failures) == ("0.0.0.0:8000", 2, 10)
    assert defaults.models_dir.parts[-3:] == ("share", "scriptorium", "models")


def test_commands_without_services_leave_the_data_directory_alone(tmp_path):
    """`scriptorium transcribe` / `models` read the speech settings without creating embedded secrets."""
    data = tmp_path / "data"
    cfg = s.load({"SCRIPTORIUM_DATA_DIR": str(data), "WHISPER_MODEL": "tiny.en"}, services=False)
    assert cfg.whisper_model == "tiny.en" and cfg.secret_key == "" and cfg.database_url == ""
    assert not data.exists()

"""Typed settings: defaults, TOML file, AUTHSVC_… environment overrides, `config explain`."""

from __future__ import annotations

from pathlib import Path

import pytest

from authsvc.config import Settings, explain, load_settings
from authsvc.errors import ConfigError


def test_defaults_file_and_environment(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[server]\nport = 9000\n[database]\ndsn = "sqlite:///x.db"\n')
    s = load_settings(file, env={"AUTHSVC_SERVER_PORT": "9100", "AUTHSVC_SECURITY_TEST_PKI": "true"})
    assert s.server.port == 9100  # environment beats the file
    assert s.database.dsn == "sqlite:///x.db"
    assert s.security.test_pki is True
    assert s.rate_limit.window_s == 60  # default


def test_shipped_default_config_uses_the_embedded_stack() -> None:
    s = load_settings(env={})
    assert s.database.dsn.startswith("sqlite:///") and s.keys.backend == "file" and s.security.test_pki is True


@pytest.mark.parametrize("env", [{"AUTHSVC_SERVER_PORT": "http"}, {"AUTHSVC_SERVER_PORT": "0"}])
def test_bad_values_are_config_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    assert "server.port" in str(err.value)


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError):
        load_settings(file, env={})


def test_explain_lists_every_setting_and_hides_passwords() -> None:
    s = load_settings(env={"AUTHSVC_DATABASE_DSN": "postgresql://svc:hunter2@db/authsvc"})
    rows = explain(s)
    declared = sum(len(type(getattr(s, sec)).model_fields) for sec in Settings.model_fields)
    assert len(rows) == declared
    assert all(r.help and r.env.startswith("AUTHSVC_") for r in rows)
    dsn = next(r for r in rows if r.env == "AUTHSVC_DATABASE_DSN")
    assert "hunter2" not in str(dsn.value) and "svc:***@db" in str(dsn.value)


def test_tables_come_from_the_environment_as_json() -> None:
    s = load_settings(env={"AUTHSVC_REGISTRY_PHOTO_QUALITY": '{"max_mouth_openness": 0.2}'})
    assert s.registry.photo_quality == {"max_mouth_openness": 0.2}
    with pytest.raises(ConfigError):
        load_settings(env={"AUTHSVC_REGISTRY_PHOTO_QUALITY": "max=1"})

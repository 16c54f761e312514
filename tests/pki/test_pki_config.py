"""Issue 11 §4-5: the code's PKI defaults trust nothing, plain-HTTP anchors need the test PKI, and a CRL
source must name a configured CA (any spelling of the same file) or the start fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authsvc.config import REPO_ROOT, Settings, load_settings
from authsvc.errors import ConfigError

SIM = "http://127.0.0.1:8701"


def settings_from(tmp_path: Path, text: str) -> Settings:
    file = tmp_path / "authsvc.toml"
    file.write_text(text)
    return load_settings(file, env={})


def test_code_defaults_trust_nothing(tmp_path: Path) -> None:
    for pki in (Settings().pki, settings_from(tmp_path, "").pki):
        assert (pki.anchor_files, pki.anchor_urls, pki.intermediate_files, pki.intermediate_urls) == ([], [], [], [])
        assert pki.crl_sources == []


def test_plain_http_anchor_urls_need_the_test_pki(tmp_path: Path) -> None:
    anchors = f'[pki]\nanchor_urls = ["{SIM}/cert/root_rsa2022_test.cer"]\n'
    with pytest.raises(ConfigError) as refused:
        settings_from(tmp_path, "[security]\ntest_pki = false\n" + anchors)
    assert "pki.anchor_urls" in str(refused.value) and "https" in str(refused.value)
    with pytest.raises(ConfigError):  # the environment cannot slip one in either
        load_settings(tmp_path / "authsvc.toml", env={"AUTHSVC_PKI_ANCHOR_URLS": f'["{SIM}/cert/x.cer"]'})
    assert settings_from(tmp_path, "[security]\ntest_pki = true\n" + anchors).pki.anchor_urls
    https = '[security]\ntest_pki = false\n[pki]\nanchor_urls = ["https://pki.example/root.cer"]\n'
    assert settings_from(tmp_path, https).pki.anchor_urls == ["https://pki.example/root.cer"]


def test_shipped_default_config_names_the_simulator_explicitly() -> None:
    pki = load_settings(REPO_ROOT / "configs" / "default.toml", env={}).pki
    assert pki.anchor_urls and all(u.startswith(f"{SIM}/cert/") for u in pki.anchor_urls)
    assert pki.intermediate_urls and all(u.startswith(f"{SIM}/cert/") for u in pki.intermediate_urls)
    assert {s.issuer for s in pki.crl_sources} == set(pki.intermediate_urls)
    assert all(s.url.startswith(f"{SIM}/crl/") for s in pki.crl_sources)


def _crl_config(issuer: str, intermediate: str, url: str = "http://crl.example/ca.crl") -> dict[str, Any]:
    return {
        "anchor_files": ["/etc/authsvc/nca/root.cer"],
        "anchor_urls": [],
        "intermediate_files": [intermediate],
        "intermediate_urls": [],
        "crl_sources": [{"url": url, "issuer": issuer}],
    }


def test_a_crl_issuer_that_names_no_configured_ca_fails_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env={}, pki=_crl_config(str(tmp_path / "other.cer"), str(tmp_path / "nca" / "ca.cer")))
    assert "pki.crl_sources[0].issuer" in str(refused.value)
    with pytest.raises(ConfigError):
        load_settings(env={}, pki=_crl_config(f"{SIM}/cert/nca_rsa2022_test.cer", str(tmp_path / "ca.cer")))


def test_a_crl_issuer_may_spell_the_same_file_differently(tmp_path: Path) -> None:
    spelled = f"{tmp_path}/nca/../nca/./ca.cer"
    settings = load_settings(env={}, pki=_crl_config(spelled, str(tmp_path / "nca" / "ca.cer")))
    assert settings.pki.crl_sources[0].issuer == spelled


@pytest.mark.parametrize("url", ["ftp://crl.example/ca.crl", "/var/crl/ca.crl", ""])
def test_a_crl_source_is_a_url_or_a_file(tmp_path: Path, url: str) -> None:
    ca = str(tmp_path / "ca.cer")
    with pytest.raises(ConfigError) as refused:
        load_settings(env={}, pki=_crl_config(ca, ca, url))
    assert "crl_sources" in str(refused.value)
    assert load_settings(env={}, pki=_crl_config(ca, ca, f"file:{tmp_path}/ca.crl")).pki.crl_sources

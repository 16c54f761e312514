"""Without OpenSSL's gost engine and provider, or without this package's C verifier, the service still starts
and verifies GOST (through the engine, or in pure Python with neither).

A child process gets an OpenSSL that looks for engines and providers in an empty folder (so
``ENGINE_by_id("gost")`` and ``OSSL_PROVIDER_load("gostprov")`` fail as on a machine without
libengine-gost-openssl) and runs `test_gost_over_http.py` there: the app starts, its worker pool inherits
the same OpenSSL, and the GOST verdicts over HTTP are the ones this process gets with the engine. The
``AUTHSVC_GOST_ENGINE=off`` switch is checked the same way, with the provider still present. The C verifier is
taken away by a child whose import of ``authsvc.pki.gost._gostc`` fails (as after an install without a
compiler; `sitecustomize` in a folder put first on the path), and switched off by ``AUTHSVC_GOST_NATIVE=off``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared import REPO_ROOT

_MODULE = Path(__file__).with_name("test_gost_over_http.py")


def _run_child(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", str(_MODULE)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("OPENSSL_CONF", None)  # a deployment's config could activate the provider by path
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def test_service_verifies_gost_with_the_engine_absent(tmp_path: Path) -> None:
    empty = tmp_path / "no-openssl-modules"
    empty.mkdir()
    env = _base_env() | {
        "OPENSSL_ENGINES": str(empty),
        "OPENSSL_MODULES": str(empty),
        "AUTHSVC_TEST_GOST_PATH": "python",
        "AUTHSVC_GOST_NATIVE": "off",
    }
    child = _run_child(env)
    assert child.returncode == 0, child.stdout + child.stderr
    assert "2 passed" in child.stdout


_NO_EXTENSION = """
import importlib.abc, sys

class _NoGostC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "authsvc.pki.gost._gostc":
            raise ImportError("built without a compiler")
        return None

sys.meta_path.insert(0, _NoGostC())
"""


def test_service_verifies_gost_with_the_c_verifier_absent(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(_NO_EXTENSION)
    env = _base_env() | {"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO_ROOT}", "AUTHSVC_TEST_GOST_PATH": "engine"}
    child = _run_child(env)
    assert child.returncode == 0, child.stdout + child.stderr
    assert "2 passed" in child.stdout


def test_the_switch_turns_the_c_verifier_off() -> None:
    child = _run_child(_base_env() | {"AUTHSVC_GOST_NATIVE": "off", "AUTHSVC_TEST_GOST_PATH": "engine"})
    assert child.returncode == 0, child.stdout + child.stderr
    assert "2 passed" in child.stdout


@pytest.mark.parametrize("value", ["off"])
def test_the_switch_turns_the_engine_off(value: str) -> None:
    code = (
        "from authsvc.pki import gost; "
        "assert gost.engine_curves() == frozenset(), gost.engine_curves(); "
        "assert gost.openssl_fast_path_active(); print('ok')"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=_base_env() | {"AUTHSVC_GOST_ENGINE": value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stdout + child.stderr

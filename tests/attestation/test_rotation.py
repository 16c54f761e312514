"""Rotating the attestation key as an operator does it: `authsvc keys rotate-attestation` on the key file and
`python -m authsvc.hsm rotate-attestation` on the token, each a process of its own. An attestation signed
before the rotation verifies after it (in a service started afterwards too), the JWK Set lists both keys, and
a key file from before attestation keys existed is upgraded by `keys init --if-missing` without losing a key."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from authsvc.attestation import Attestor
from authsvc.crypto.local_keys import LocalKeyStore, load_key_file, write_key_file
from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.attestation.offline import verify_offline
from tests.attestation.test_attestor import claims, make_hsm
from tests.drivers.pkcs11.softhsm import PIN
from tests.shared import REPO_ROOT


def authsvc(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), AUTHSVC_KEYS_FILE=str(tmp_path / "k" / "keys.json"),
               AUTHSVC_DATABASE_DSN=f"sqlite:///{tmp_path}/a.db")  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "authsvc.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_key_file_rotation_keeps_old_attestations_valid(tmp_path: Path) -> None:
    assert authsvc(tmp_path, "keys", "init").returncode == 0
    path = tmp_path / "k" / "keys.json"
    before_store = load_key_file(path)
    token = Attestor(before_store).issue(claims(jti="before"))
    done = authsvc(tmp_path, "keys", "rotate-attestation")
    assert done.returncode == 0 and "1 older key(s) stay published" in done.stdout, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    after = Attestor(load_key_file(path))  # the service restarted on the rotated file
    assert after.key_id != before_store.attestation_key_id
    assert after.verify(token).claims["jti"] == "before"
    new_token = after.issue(claims(jti="after"))
    jwks = after.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [after.key_id, before_store.attestation_key_id]
    assert verify_offline(token, jwks)["jti"] == "before" and verify_offline(new_token, jwks)["jti"] == "after"
    # Nothing else in the file changed.
    rotated = load_key_file(path)
    assert (rotated.keks, rotated.index_key, rotated.current_audit_key) == (
        before_store.keks,
        before_store.index_key,
        before_store.current_audit_key,
    )


def test_a_key_file_from_before_attestations_is_upgraded_by_init_if_missing(tmp_path: Path) -> None:
    path = tmp_path / "k" / "keys.json"
    path.parent.mkdir(mode=0o700)
    keys = LocalKeyStore.generate()
    old = json.loads(keys.to_json())
    del old["attestation_keys"], old["current_attestation_key"]
    write_key_file(path, LocalKeyStore.from_json(json.dumps(old)))
    still_runs = authsvc(tmp_path, "lender", "create", "--name", "X")  # commands that sign nothing still run
    assert still_runs.returncode == 0, still_runs.stderr
    done = authsvc(tmp_path, "keys", "init", "--if-missing")
    assert done.returncode == 0 and "attestation key" in done.stdout and "added" in done.stdout, done.stderr
    upgraded = load_key_file(path)
    assert upgraded.keks == keys.keks and upgraded.index_key == keys.index_key
    assert upgraded.current_audit_key == keys.current_audit_key and upgraded.attestation_key_id
    assert Attestor(upgraded).verify(Attestor(upgraded).issue(claims())).kid == upgraded.attestation_key_id
    again = authsvc(tmp_path, "keys", "init", "--if-missing")
    assert again.returncode == 0 and "kept" in again.stdout
    assert load_key_file(path).attestation_keys.keys() == upgraded.attestation_keys.keys()


def test_hsm_rotation_by_the_command_keeps_old_attestations_valid(tmp_path: Path) -> None:
    hsm = make_hsm()
    label = hsm._label
    token = Attestor(hsm).issue(claims(jti="before"))
    old_kid = hsm.attestation_key_id
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), AUTHSVC_KEYS_BACKEND="pkcs11", AUTHSVC_HSM_PIN=PIN,
               AUTHSVC_KEYS_PKCS11_TOKEN_LABEL=label, AUTHSVC_DATABASE_DSN=f"sqlite:///{tmp_path}/a.db")  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "authsvc.hsm", "rotate-attestation"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["new_attestation_key"].startswith("s0002-") and out["attestation_keys"] == [
        old_kid,
        out["new_attestation_key"],
    ]
    restarted = Attestor(Pkcs11KeyStore(SOFTHSM_MODULE, label, PIN))
    assert restarted.key_id == out["new_attestation_key"]
    assert restarted.verify(token).kid == old_kid
    jwks = restarted.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [out["new_attestation_key"], old_kid]
    assert verify_offline(restarted.issue(claims(jti="after")), jwks)["jti"] == "after"
    assert verify_offline(token, jwks)["jti"] == "before"
    subprocess.run([sys.executable, "-m", "authsvc.cli", "migrate"], env=env, check=True, capture_output=True)
    status = subprocess.run([sys.executable, "-m", "authsvc.hsm", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["attestation_keys"] == [old_kid, out["new_attestation_key"]]

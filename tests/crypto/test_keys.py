"""The local key file and envelope encryption (R-12.2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from authsvc.crypto.envelope import RecordCipher
from authsvc.crypto.local_keys import LocalKeyStore, init_key_file, load_key_file
from authsvc.errors import ConfigError


def test_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.json"
    store = init_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    loaded = load_key_file(path)
    assert loaded.index_mac("iin", "811201401188") == store.index_mac("iin", "811201401188")
    with pytest.raises(ConfigError):
        init_key_file(path)  # never overwritten by accident


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    init_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError) as err:
        load_key_file(path)
    assert "chmod 600" in str(err.value)


def test_envelope_binds_ciphertext_to_record_and_field() -> None:
    keys = LocalKeyStore.generate()
    cipher, wrapped = RecordCipher.new(keys, "client-1")
    sealed = cipher.seal("pii", b"secret")
    assert b"secret" not in sealed and b"secret" not in wrapped.wrapped
    assert RecordCipher.open(keys, "client-1", wrapped).unseal("pii", sealed) == b"secret"
    with pytest.raises(ValueError):
        RecordCipher.open(keys, "client-2", wrapped).unseal("pii", sealed)  # moved to another row
    with pytest.raises(ValueError):
        cipher.unseal("photo", sealed)  # moved to another field
    with pytest.raises(ValueError):
        cipher.unseal("pii", sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_rotated_kek_still_opens_old_records() -> None:
    keys = LocalKeyStore.generate()
    cipher, old = RecordCipher.new(keys, "r")
    sealed = cipher.seal("f", b"x")
    keys.rotate_kek()
    _, new = RecordCipher.new(keys, "r2")
    assert new.kek_id != old.kek_id
    assert RecordCipher.open(keys, "r", old).unseal("f", sealed) == b"x"
    with pytest.raises(ValueError):
        keys.unwrap_data_key(bytes(len(old.wrapped)), old.kek_id)

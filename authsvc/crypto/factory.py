"""`open_keystore(settings)`: the key store `[keys] backend` names — the local key file (the embedded
default) or the PKCS#11 HSM store, whose PIN comes from an environment variable or a file, never from
the configuration itself."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from authsvc.config import KeySettings, Settings, resolve_path
from authsvc.crypto.keystore import KeyStore
from authsvc.crypto.local_keys import load_key_file
from authsvc.errors import ConfigError


def hsm_pin(keys: KeySettings) -> str:
    """The HSM user PIN: from ``pkcs11_pin_file`` (owner-only) if set, else the ``pkcs11_pin_env`` variable."""
    if keys.pkcs11_pin_file:
        path = Path(keys.pkcs11_pin_file)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError as exc:
            raise ConfigError(f"[keys] pkcs11_pin_file {path} not found") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"[keys] pkcs11_pin_file {path} is readable by group/others; chmod 600")
        return path.read_text().strip()
    pin = os.environ.get(keys.pkcs11_pin_env, "")
    if not pin:
        raise ConfigError(f"[keys] backend pkcs11 needs the HSM PIN in ${keys.pkcs11_pin_env} or pkcs11_pin_file")
    return pin


def open_keystore(settings: Settings) -> KeyStore:
    keys = settings.keys
    if keys.backend == "pkcs11":
        from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore  # python-pkcs11 is the optional [hw] extra

        return Pkcs11KeyStore(
            keys.pkcs11_module, keys.pkcs11_token_label, hsm_pin(keys), timeout_s=keys.pkcs11_timeout_s
        )
    return load_key_file(resolve_path(keys.file))

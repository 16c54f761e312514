"""The operator's sentences and exit statuses: every outcome in three languages, statuses distinct and listed
by --help, and `authsvc-kiosk tokens` showing whose token it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from drivers.kiosk.messages import LANGS, OUTCOMES, message
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.drivers.pkcs11.softhsm import ec_pair, provision, softhsm_home
from tests.shared import REPO_ROOT


def test_every_outcome_speaks_three_languages_with_its_own_status() -> None:
    failures = [o for o in OUTCOMES.values() if o.exit_status != 0]
    assert len({o.exit_status for o in failures}) == len(failures)  # one status per failure
    assert {o.code for o in OUTCOMES.values() if o.exit_status == 0} == {"passed", "contract_signed"}
    for outcome in OUTCOMES.values():
        texts = [message(outcome.code, lang, "x") for lang in LANGS]
        assert all(texts) and len(set(texts)) == 3, outcome.code
    assert "қате" in message("pin_incorrect", "kk") and "Неверный" in message("pin_incorrect", "ru")


def test_help_lists_the_exit_statuses() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-m", "drivers.kiosk", "--help"], capture_output=True, text=True, env=env)
    assert done.returncode == 0
    for outcome in OUTCOMES.values():
        assert f"{outcome.exit_status:>3}  {outcome.code}" in done.stdout


def test_tokens_command_shows_whose_token_it_is(tmp_path: Path) -> None:
    home = softhsm_home()
    cert, key = ec_pair(tmp_path, iin="850515400343", cn="ЖАҚЫПОВА ДАНА")
    label = provision("--pem", str(cert), str(key)).label
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), SOFTHSM2_CONF=str(home / "softhsm2.conf"))
    done = subprocess.run(
        [sys.executable, "-m", "drivers.kiosk", "tokens", "--module", SOFTHSM_MODULE],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(i for i, ln in enumerate(done.stdout.splitlines()) if ln.startswith(label))
    assert "ЖАҚЫПОВА ДАНА; IIN 850515400343" in done.stdout.splitlines()[line + 1]

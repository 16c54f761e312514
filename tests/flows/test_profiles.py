"""Profiles as data (configs/profiles): the liveness step's match to the identity document (R-7.3b(i))."""

from __future__ import annotations

from pathlib import Path

import pytest

from authsvc.errors import ConfigError
from authsvc.flows.profiles import load_profiles
from tests.shared import REPO_ROOT

PROFILES = REPO_ROOT / "configs" / "profiles"


def test_which_profiles_require_the_document_match_is_in_their_files() -> None:
    profiles = load_profiles(PROFILES)
    # R-7.3b(i): item 7.3's software "checks the client's real-time image against the image in the identity
    # document", so res63-2021 requires the match, and every profile extending it (nb-2025's biometrics are
    # "liveness with a face match to the document"; bank-2025 inherits it).
    assert {name: (p.document_match, p.document_requirement) for name, p in profiles.items()} == {
        "res63-2021": ("required", "R-7.3b(i)"),
        "res108": ("required", "R-7.3b(i)"),
        "nb-2025": ("required", "R-7.3b(i)"),
        "bank-2025": ("required", "R-7.3b(i)"),
    }


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('document_match = "always"', r"\[liveness\] takes only document_match"),
        ('document_match = "required"\nthreshold = 0.5', r"\[liveness\] takes only document_match"),
        ('document_match = "required"', r"needs the requirement it implements"),
    ],
)
def test_a_bad_liveness_table_fails_the_load(tmp_path: Path, table: str, says: str) -> None:
    (tmp_path / "mine.toml").write_text(f'name = "mine"\nextends = "res63-2021"\n\n[liveness]\n{table}\n')
    with pytest.raises(ConfigError, match=says):
        load_profiles(PROFILES, tmp_path)

"""The liveness script: random, short-lived, bound to a nonce, JSON round trip, ≤ 3 flashes a second."""

from __future__ import annotations

import json

import pytest

from liveness.errors import ScriptExpired, ScriptInvalid
from liveness.script import MIN_FLASH_MS, Script, ScriptSettings, new_script


def test_json_round_trip_keeps_every_field() -> None:
    script = new_script("nonce-1", now_ms=1_000, seed=5)
    again = Script.from_json(script.to_json())
    assert again == script
    assert again.nonce == "nonce-1" and again.expires_at_ms == 1_000 + ScriptSettings().ttl_ms


def test_a_seed_reproduces_a_script_and_production_draws_differ() -> None:
    assert new_script("n", now_ms=0, seed=9) == new_script("n", now_ms=0, seed=9)
    drawn = {new_script("n", now_ms=0).to_json() for _ in range(8)}
    assert len(drawn) > 1  # secrets-based draws vary


@pytest.mark.parametrize("seed", range(40))
def test_turns_both_ways_a_blink_and_at_most_three_flashes_per_second(seed: int) -> None:
    script = new_script("n", now_ms=0, settings=ScriptSettings(duration_ms=5000, include_up_probability=0.5), seed=seed)
    kinds = [a.kind for a in script.actions]
    assert {"turn_left", "turn_right", "blink"} <= set(kinds)
    assert all(b.start_ms >= a.end_ms for a, b in zip(script.actions, script.actions[1:], strict=False))
    starts = [f.start_ms for f in script.flashes]
    # Any one-second window holds at most three colour changes.
    assert all(sum(s <= t < s + 1000 for t in starts) <= 3 for s in starts)
    assert all(f.end_ms - f.start_ms >= MIN_FLASH_MS for f in script.flashes)
    assert all(a.colour != b.colour for a, b in zip(script.flashes, script.flashes[1:], strict=False))
    assert script.flashes[0].start_ms == 0 and script.flashes[-1].end_ms == script.duration_ms


def _tampered(**changes: object) -> str:
    data = json.loads(new_script("n", now_ms=0, seed=1).to_json())
    data.update(changes)
    return json.dumps(data)


def test_a_flash_sequence_faster_than_three_per_second_is_refused() -> None:
    data = json.loads(new_script("n", now_ms=0, seed=1).to_json())
    data["flashes"] = [
        {"colour": [255, 0, 0], "start_ms": 0, "end_ms": 200},
        {"colour": [0, 0, 255], "start_ms": 200, "end_ms": data["duration_ms"]},
    ]
    with pytest.raises(ScriptInvalid, match="3 flashes per second"):
        Script.from_json(json.dumps(data))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        _tampered(version=2),
        _tampered(actions=[]),
        _tampered(nonce=""),
        _tampered(duration_ms=10**9),
        _tampered(expires_at_ms=-1),
        _tampered(actions=[{"kind": "dance", "start_ms": 0, "end_ms": 10}]),
        _tampered(flashes=[{"colour": [300, 0, 0], "start_ms": 0, "end_ms": 3000}]),
    ],
)
def test_malformed_scripts_are_a_named_failure(text: str) -> None:
    with pytest.raises(ScriptInvalid) as info:
        Script.from_json(text)
    assert info.value.code == "script_invalid"


def test_a_script_expires() -> None:
    script = new_script("n", now_ms=0, settings=ScriptSettings(ttl_ms=60_000), seed=1)
    script.check_fresh(59_999)
    with pytest.raises(ScriptExpired) as info:
        script.check_fresh(60_001)
    assert info.value.code == "script_expired"


def test_a_script_is_a_nonce_of_at_least_20_bits() -> None:
    """Order, timings and flash colours together: a lower bound from the draw, and no repeats in practice."""
    from liveness.script import entropy_bits

    settings = ScriptSettings()
    assert entropy_bits(settings) >= 20.0
    scripts = [new_script("n", now_ms=0, seed=s) for s in range(3000)]
    timelines = {tuple((a.kind, a.start_ms, a.end_ms) for a in s.actions) for s in scripts}
    codes = {tuple(f.colour for f in s.flashes) for s in scripts}
    # 3,000 draws of ≥ 2^13 timelines and ≥ 2^19 colour codes: repeats are rare, never common.
    assert len(timelines) >= 2_700 and len(codes) == 3_000
    # The same order of actions still comes with different timings (the recording's own timeline).
    same_order = [s for s in scripts if [a.kind for a in s.actions] == [a.kind for a in scripts[0].actions]]
    assert len({s.actions[0].start_ms for s in same_order}) >= 10

"""The liveness challenge: a random, short-lived script bound to the identification nonce.

A script is what the service asks the client to perform and show during one capture:

- an ordered list of head actions (turn left, turn right, optionally look up) and a blink, each with a
  time window (ms from the start of recording);
- a colour-flash sequence the client's screen shows, with its timeline. Every flash lasts at least
  1000/3 ms, so the screen changes colour at most 3 times per second (photosensitive epilepsy limit).

The order of the actions and the colours are drawn with :mod:`secrets` in production (a seed is accepted
only so tests are reproducible); a recording made for another script follows the wrong order and the
wrong colours (FACE.md, "Presentation-attack detection"). The script carries its nonce and expiry, so a
capture can only be judged against the challenge that was issued for that identification (R-12.3).

Directions are the *subject's*: "turn_left" means the person turns to their own left, which in an
unmirrored camera frame moves the nose towards the image's right (positive yaw in ``HeadPose``).
"""

from __future__ import annotations

import json
import math
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast, get_args

from liveness.errors import ScriptExpired, ScriptInvalid

ActionKind = Literal["turn_left", "turn_right", "turn_up", "blink"]
ACTION_KINDS: Final = get_args(ActionKind)
SCRIPT_VERSION: Final = 1
# Saturated colours far apart in chromaticity; a phone screen can show each at full brightness.
PALETTE: Final[tuple[tuple[int, int, int], ...]] = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
    (255, 255, 255),
    (255, 128, 0),
)
MAX_FLASHES_PER_SECOND: Final = 3
MIN_FLASH_MS: Final = -(-1000 // MAX_FLASHES_PER_SECOND)  # 334 ms: at most 3 colour changes a second
# Bounds a stored or client-echoed script must respect before anything else reads it.
MAX_DURATION_MS: Final = 20_000
MAX_ACTIONS: Final = 8
MAX_FLASHES: Final = 64


@dataclass(frozen=True)
class Action:
    """One thing the subject must do; ``start_ms``/``end_ms`` are its window from the start of recording."""

    kind: ActionKind
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Flash:
    """The screen shows ``colour`` (RGB 0..255) from ``start_ms`` to ``end_ms``."""

    colour: tuple[int, int, int]
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class ScriptSettings:
    """duration_ms: length of the recording the script covers (turns need ~1 s each).
    ttl_ms: how long after issue a capture for it is still accepted (short: a replay has no time to adapt).
    min_turn_deg: the yaw each turn must reach (FACE.md: ≥ 15° for the planarity test to separate).
    include_up_probability: chance of an extra "look up" action (only when the duration allows it).
    lead_in_ms: neutral, frontal time at the start (the baseline for pose, eyes and colour).
    tail_ms: time after the last action, so a final blink is seen to reopen and a final turn to return."""

    duration_ms: int = 4000
    ttl_ms: int = 120_000
    min_turn_deg: float = 15.0
    min_up_deg: float = 10.0
    include_up_probability: float = 0.0
    lead_in_ms: int = 400
    tail_ms: int = 600
    flash_ms: tuple[int, int] = (MIN_FLASH_MS, 600)
    palette: tuple[tuple[int, int, int], ...] = PALETTE


@dataclass(frozen=True)
class Script:
    nonce: str
    issued_at_ms: int
    expires_at_ms: int
    duration_ms: int
    min_turn_deg: float
    min_up_deg: float
    actions: tuple[Action, ...]
    flashes: tuple[Flash, ...]
    version: int = SCRIPT_VERSION
    # Free-form labels for logs (never used in a decision).
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    def colour_at(self, t_ms: float) -> tuple[int, int, int] | None:
        """The flash colour on screen at ``t_ms`` (None outside the sequence)."""
        for flash in self.flashes:
            if flash.start_ms <= t_ms < flash.end_ms:
                return flash.colour
        return None

    def check_fresh(self, now_ms: int) -> None:
        """Raise ScriptExpired once the script's lifetime is over (or before it was issued)."""
        if now_ms > self.expires_at_ms:
            raise ScriptExpired(f"liveness script expired {now_ms - self.expires_at_ms} ms ago")
        if now_ms < self.issued_at_ms - 5_000:  # a little clock skew between service nodes is tolerated
            raise ScriptInvalid("liveness script is issued in the future")

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "nonce": self.nonce,
            "issued_at_ms": self.issued_at_ms,
            "expires_at_ms": self.expires_at_ms,
            "duration_ms": self.duration_ms,
            "min_turn_deg": self.min_turn_deg,
            "min_up_deg": self.min_up_deg,
            "actions": [{"kind": a.kind, "start_ms": a.start_ms, "end_ms": a.end_ms} for a in self.actions],
            "flashes": [{"colour": list(f.colour), "start_ms": f.start_ms, "end_ms": f.end_ms} for f in self.flashes],
            "meta": dict(self.meta),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: object) -> Script:
        """Parse and validate; raises ScriptInvalid naming the first problem."""
        try:
            return _validated(_parse(data))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ScriptInvalid):
                raise
            raise ScriptInvalid(f"malformed liveness script: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Script:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ScriptInvalid(f"liveness script is not JSON: {exc}") from exc
        return cls.from_dict(data)


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScriptInvalid(f"{name} must be an integer")
    return value


def _num(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScriptInvalid(f"{name} must be a number")
    return float(value)


def _parse(data: object) -> Script:
    if not isinstance(data, dict):
        raise ScriptInvalid("liveness script must be a JSON object")
    if data.get("version") != SCRIPT_VERSION:
        raise ScriptInvalid(f"unsupported liveness script version {data.get('version')!r}")
    actions_raw, flashes_raw = data["actions"], data["flashes"]
    if not isinstance(actions_raw, list) or not isinstance(flashes_raw, list):
        raise ScriptInvalid("actions and flashes must be lists")
    if len(actions_raw) > MAX_ACTIONS or len(flashes_raw) > MAX_FLASHES:
        raise ScriptInvalid("too many actions or flashes")
    actions = []
    for raw in actions_raw:
        kind = raw["kind"]
        if kind not in ACTION_KINDS:
            raise ScriptInvalid(f"unknown action {kind!r}")
        actions.append(Action(cast(ActionKind, kind), _int(raw["start_ms"], "start_ms"), _int(raw["end_ms"], "end_ms")))
    flashes = []
    for raw in flashes_raw:
        colour = raw["colour"]
        if not isinstance(colour, list) or len(colour) != 3:
            raise ScriptInvalid("a flash colour is [r, g, b]")
        rgb = tuple(_int(c, "colour") for c in colour)
        if not all(0 <= c <= 255 for c in rgb):
            raise ScriptInvalid("flash colour components are 0..255")
        flashes.append(
            Flash((rgb[0], rgb[1], rgb[2]), _int(raw["start_ms"], "start_ms"), _int(raw["end_ms"], "end_ms"))
        )
    nonce = data["nonce"]
    meta = data.get("meta", {})
    if not isinstance(nonce, str) or not nonce or len(nonce) > 256:
        raise ScriptInvalid("nonce must be a non-empty string")
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ScriptInvalid("meta must map strings to strings")
    return Script(
        nonce=nonce,
        issued_at_ms=_int(data["issued_at_ms"], "issued_at_ms"),
        expires_at_ms=_int(data["expires_at_ms"], "expires_at_ms"),
        duration_ms=_int(data["duration_ms"], "duration_ms"),
        min_turn_deg=_num(data["min_turn_deg"], "min_turn_deg"),
        min_up_deg=_num(data["min_up_deg"], "min_up_deg"),
        actions=tuple(actions),
        flashes=tuple(flashes),
        meta=dict(meta),
    )


def _validated(script: Script) -> Script:
    """Timeline sanity: windows inside the recording and in order, flashes contiguous and ≤ 3 per second."""
    if not 0 < script.duration_ms <= MAX_DURATION_MS:
        raise ScriptInvalid(f"duration_ms must be 1..{MAX_DURATION_MS}")
    if script.expires_at_ms <= script.issued_at_ms:
        raise ScriptInvalid("expires_at_ms must follow issued_at_ms")
    if not script.actions or not any(a.kind.startswith("turn_") for a in script.actions):
        raise ScriptInvalid("a script needs at least one head turn")
    previous_end = 0
    for action in script.actions:
        if not previous_end <= action.start_ms < action.end_ms <= script.duration_ms:
            raise ScriptInvalid(f"action windows must be ordered and inside the recording ({action})")
        previous_end = action.end_ms
    if not script.flashes:
        raise ScriptInvalid("a script needs a colour-flash sequence")
    previous_end = script.flashes[0].start_ms
    for flash in script.flashes:
        if flash.start_ms != previous_end or flash.end_ms > script.duration_ms:
            raise ScriptInvalid("flashes must be contiguous and inside the recording")
        if flash.end_ms - flash.start_ms < MIN_FLASH_MS:
            raise ScriptInvalid(
                f"a flash lasts {flash.end_ms - flash.start_ms} ms: more than {MAX_FLASHES_PER_SECOND} flashes per second"
            )
        previous_end = flash.end_ms
    return script


def new_script(
    nonce: str,
    *,
    now_ms: int | None = None,
    settings: ScriptSettings | None = None,
    seed: int | None = None,
) -> Script:
    """Draw a fresh script for ``nonce``. ``seed`` makes it reproducible (tests and the simulator only);
    without it the draw uses the operating system's CSPRNG."""
    settings = settings or ScriptSettings()
    rng: random.Random = random.Random(seed) if seed is not None else secrets.SystemRandom()
    now = int(time.time() * 1000) if now_ms is None else now_ms
    kinds: list[ActionKind] = ["turn_left", "turn_right"]
    rng.shuffle(kinds)
    # A look-up needs its own second; it is offered only on longer scripts.
    if settings.duration_ms >= 4500 and rng.random() < settings.include_up_probability:
        kinds.insert(rng.randrange(len(kinds) + 1), "turn_up")
    kinds.insert(rng.randrange(len(kinds) + 1), "blink")
    actions = _timeline(kinds, settings, rng)
    flashes = _flashes(rng, settings)
    return _validated(
        Script(
            nonce=nonce,
            issued_at_ms=now,
            expires_at_ms=now + settings.ttl_ms,
            duration_ms=settings.duration_ms,
            min_turn_deg=settings.min_turn_deg,
            min_up_deg=settings.min_up_deg,
            actions=tuple(actions),
            flashes=tuple(flashes),
        )
    )


# Each action's window opens with its cue ("turn left", shown until the window ends, then "look straight").
# Windows have fixed lengths (a turn 0.7 s: a person reacts in ~0.4 s, reaches the turn and holds it until
# the return cue; a blink 0.5 s, so a slow reaction's blink still falls in it); all the rest of the recording goes, at random in 50 ms steps, to the
# lead-in, the pauses between windows and the tail. Putting the slack only where it moves the cues (not
# into window lengths) makes the cue times differ most between two scripts: a recording made for another
# script reacts at other times, which ``checks_motion.check_reaction`` judges against each cue.
MIN_WINDOW_MS: Final[dict[str, int]] = {"turn_left": 700, "turn_right": 700, "turn_up": 800, "blink": 500}
TIME_STEP_MS: Final = 50


def _composition(rng: random.Random, units: int, parts: int) -> list[int]:
    """A uniformly random way to split ``units`` into ``parts`` non-negative integers (stars and bars)."""
    bars = sorted(rng.sample(range(units + parts - 1), parts - 1))
    edges = [-1, *bars, units + parts - 1]
    return [edges[i + 1] - edges[i] - 1 for i in range(parts)]


def _timeline(kinds: list[ActionKind], settings: ScriptSettings, rng: random.Random) -> list[Action]:
    """Fixed-length windows after a random lead-in, with random pauses between them and a random tail."""
    span = settings.duration_ms - settings.lead_in_ms - settings.tail_ms
    minimum = sum(MIN_WINDOW_MS[k] for k in kinds)
    units = max(0, (span - minimum) // TIME_STEP_MS)
    # Parts: the lead-in's extension, the pause after each window but the last, and the tail's extension.
    parts = _composition(rng, units, len(kinds) + 1)
    lead, pauses = parts[0], [*parts[1 : len(kinds)], 0]
    actions = []
    t = settings.lead_in_ms + lead * TIME_STEP_MS
    for kind, pause in zip(kinds, pauses, strict=True):
        end = t + MIN_WINDOW_MS[kind]
        actions.append(Action(kind, t, end))
        t = end + pause * TIME_STEP_MS
    return actions


def entropy_bits(settings: ScriptSettings | None = None) -> float:
    """A lower bound on the entropy of one draw of :func:`new_script` (bits): the order of the actions,
    the cue times (every composition is equally likely) and the flash colours (at least
    ⌈duration / longest flash⌉ flashes, each a colour other than the previous). Flash lengths add more,
    uncounted."""
    settings = settings or ScriptSettings()
    orders = 2 * 3  # left/right either way round, the blink in any of three places
    span = settings.duration_ms - settings.lead_in_ms - settings.tail_ms
    units = max(0, (span - MIN_WINDOW_MS["turn_left"] * 2 - MIN_WINDOW_MS["blink"]) // TIME_STEP_MS)
    timelines = math.comb(units + 4 - 1, 4 - 1)
    palette = len(settings.palette)
    flashes = -(-settings.duration_ms // max(settings.flash_ms[1], MIN_FLASH_MS))
    colours = math.log2(palette) + (flashes - 1) * math.log2(palette - 1)
    return math.log2(orders) + math.log2(timelines) + colours


def _flashes(rng: random.Random, settings: ScriptSettings) -> list[Flash]:
    low, high = settings.flash_ms
    low = max(low, MIN_FLASH_MS)
    flashes: list[Flash] = []
    t = 0
    previous: tuple[int, int, int] | None = None
    while t < settings.duration_ms:
        length = rng.randint(low, max(low, high))
        if settings.duration_ms - (t + length) < low:  # never leave a flash shorter than the limit at the end
            length = settings.duration_ms - t
        colour = rng.choice([c for c in settings.palette if c != previous])
        flashes.append(Flash(colour, t, t + length))
        previous = colour
        t += length
    return flashes

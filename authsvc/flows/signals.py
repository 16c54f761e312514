"""Device and session signals a lender's app reports with a step (R-NB.5, R-23.1, R-AF.1).

The app's own integrity checks (root, jailbreak, remote-control software, emulator, its signature) are the
lender's to make; the service records what it was told with the step, refuses under a profile that says
so, and keeps the device id (as a keyed hash) for the grey and black lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authsvc.flows.profiles import Profile


@dataclass(frozen=True)
class Geolocation:
    latitude: float
    longitude: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class DeviceSignals:
    device_id: str | None = None
    rooted: bool = False
    jailbroken: bool = False
    remote_control: bool = False
    emulator: bool = False
    app_signature_valid: bool | None = None  # None: the app did not check
    geolocation: Geolocation | None = None
    session_id: str | None = None

    def flags(self) -> dict[str, bool]:
        return {
            "rooted": self.rooted,
            "jailbroken": self.jailbroken,
            "remote_control": self.remote_control,
            "emulator": self.emulator,
            "app_signature_invalid": self.app_signature_valid is False,
            "geolocation": self.geolocation is not None,
            "device_id": self.device_id is not None,
        }

    def private(self) -> dict[str, Any] | None:
        """What is personal (sealed at rest): where the client was, and the ids."""
        out: dict[str, Any] = {}
        if self.geolocation is not None:
            g = self.geolocation
            out["geolocation"] = {"latitude": g.latitude, "longitude": g.longitude, "accuracy_m": g.accuracy_m}
        if self.device_id is not None:
            out["device_id"] = self.device_id
        if self.session_id is not None:
            out["session_id"] = self.session_id
        return out or None


@dataclass(frozen=True)
class SignalVerdict:
    refused: tuple[str, ...]  # the profile's refused signals that are present
    missing: str | None  # why the signals are not enough for this operation (None: enough)


def assess(profile: Profile, operation: str, signals: DeviceSignals | None) -> SignalVerdict:
    policy = profile.signals
    if signals is None:
        need = operation in policy.required_for or operation in policy.geolocation_for
        return SignalVerdict(
            (), f"{profile.name} needs the app's device signals for {operation} (R-NB.5)" if need else None
        )
    flags = signals.flags()
    refused = tuple(sorted(name for name in policy.refuse if flags.get(name)))
    missing = None
    if operation in policy.geolocation_for and signals.geolocation is None:
        missing = f"{profile.name} records the client's geolocation with {operation} (R-NB.5): send it"
    return SignalVerdict(refused, missing)

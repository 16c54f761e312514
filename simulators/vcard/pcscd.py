"""A private pcscd with only the vpcd reader, for tests, benchmarks and demos on a machine where
another pcscd (or real readers) may exist: it runs in its own mount namespace with its own
/run/pcscd bound to a directory of ours, so its socket is `<dir>/run/pcscd.comm` and clients reach it
with PCSCLITE_CSOCK_NAME set to that path. Nothing of the system's pcscd or readers is touched.

pcsc-lite 1.9 ignores PCSCLITE_CSOCK_NAME on the daemon side, hence the namespace (needs root, or
`unshare` rights). Its driver directory is ours too, holding vpcd alone, so no real reader ever shows
up in it. libpcsclite reads the variable once per process: pick one directory per process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Final

from simulators.vcard.vpcd import VPCD_PORT

SOCKET_ENV: Final = "PCSCLITE_CSOCK_NAME"
DRIVERS_DIR: Final = "/usr/lib/pcsc/drivers"
VPCD_DRIVER: Final = DRIVERS_DIR + "/serial/libifdvpcd.so"
READER_NAME: Final = "Virtual PCD"


class PcscdUnavailable(RuntimeError):
    """pcscd, vpcd or unshare is not installed, or pcscd did not come up."""


def reader_config(port: int) -> str:
    """reader.conf.d entry for vpcd listening on `port` (and `port + 1` for its second slot)."""
    return (
        f'FRIENDLYNAME "{READER_NAME}"\n'
        f"DEVICENAME   /dev/null:0x{port:04X}\n"
        f"LIBPATH      {VPCD_DRIVER}\n"
        f"CHANNELID    0x{port:04X}\n"
    )


class PrivatePcscd:
    def __init__(self, directory: Path, *, vpcd_port: int | None = VPCD_PORT) -> None:
        """`vpcd_port=None`: a pcscd with no reader at all (what a kiosk with the reader unplugged sees)."""
        self.directory = directory.resolve()  # pcscd works from / : relative paths would not resolve
        self.vpcd_port = vpcd_port
        self.run_dir = self.directory / "run"
        self.drivers_dir = self.directory / "drivers"
        self.conf_dir = self.directory / "reader.conf.d"
        self.log_path = self.directory / "pcscd.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "pcscd.comm"

    def environment(self) -> dict[str, str]:
        """What a client process (OpenSC, pcsc_scan, our driver) needs to reach this pcscd."""
        return {SOCKET_ENV: str(self.socket_path)}

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout: float = 10.0) -> None:
        for tool in ("pcscd", "unshare", "mount"):
            if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
                raise PcscdUnavailable(f"{tool} is not installed (apt-get install pcscd vsmartcard-vpcd util-linux)")
        if not Path(VPCD_DRIVER).exists():
            raise PcscdUnavailable("the vpcd driver is missing (apt-get install vsmartcard-vpcd)")
        if self.running:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        # pcscd's USB hot-plug loads every driver bundle under /usr/lib/pcsc/drivers: ours holds vpcd
        # only, so a real reader on this machine stays out of reach of whatever runs against this pcscd
        (self.drivers_dir / "serial").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(VPCD_DRIVER).resolve(), self.drivers_dir / "serial" / Path(VPCD_DRIVER).name)
        if self.vpcd_port is None:
            (self.conf_dir / "vpcd").unlink(missing_ok=True)
        else:
            (self.conf_dir / "vpcd").write_text(reader_config(self.vpcd_port), encoding="ascii")
        self.socket_path.unlink(missing_ok=True)
        script = (
            'mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && mount --bind "$3" "$4" && '
            'exec pcscd --foreground --info -c "$2"'
        )
        args = [self.run_dir, self.conf_dir, self.drivers_dir, DRIVERS_DIR]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *map(str, args)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while not self.socket_path.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise PcscdUnavailable(f"pcscd did not start (see {self.log_path}):\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> PrivatePcscd:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def use_in_this_process(pcscd: PrivatePcscd) -> None:
    """Point this process's libpcsclite at `pcscd` (before its first PC/SC call)."""
    os.environ[SOCKET_ENV] = str(pcscd.socket_path)

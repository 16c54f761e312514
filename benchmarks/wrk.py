"""Drive a server with wrk on the second core and read what the server's process spent (issue 15: CPU per request
beside the rate, since on a 2-core machine the load generator and PostgreSQL share the other core)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPORT = Path(__file__).with_name("wrk_report.lua")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """The server's CPU per request, µs."""
        return 1e6 * self.server_cpu_s / max(1, self.requests)

    def line(self) -> str:
        return (
            f"{self.rate:,.0f} req/s over {self.seconds:.1f} s, p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, "
            f"non-2xx {self.non_2xx}, socket errors {self.socket_errors}; server CPU {self.cpu_us:.0f} µs per request "
            f"({100 * self.server_cpu_s / self.seconds:.0f} % of its core)"
        )


def run(
    pid: int,
    url: str,
    *,
    seconds: float,
    concurrency: int,
    headers: dict[str, str] | None = None,
    script: Path = REPORT,
    script_args: tuple[str, ...] = (),
) -> WrkResult:
    """wrk (pinned to core 1 when there are two) against ``url`` for ``seconds``; ``script`` must print the
    ``WRK requests duration p50 p99 non2xx errors`` line of `wrk_report.lua`."""
    pin = ["taskset", "-c", "1"] if (os.cpu_count() or 1) > 1 and shutil.which("taskset") else []
    head = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    cmd = [*pin, "wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", *head, "-s", str(script), url]
    before = process_cpu_s(pid)
    out = subprocess.run([*cmd, "--", *script_args], capture_output=True, text=True, check=True).stdout
    used = process_cpu_s(pid) - before
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    requests, duration, p50, p99, bad_status, socket_errors = line.split()[1:]
    return WrkResult(int(requests), float(duration), float(p50), float(p99), int(bad_status), int(socket_errors), used)

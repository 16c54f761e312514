"""Structured JSON logs: one object per line, the request id on every line of a request.

Nothing personal goes in: handlers log ids and codes, never names, IINs, phones, keys, codes or images;
unexpected errors are logged by type and code location, without their message (it may quote input).
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import json
import logging
import os
import re
import select
import sys
import threading
import time
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


# One encoder for every line: `json.dumps` with options builds an encoder per call (≈ 2 µs of an access line's 20).
_ENCODE = json.JSONEncoder(default=str, ensure_ascii=False).encode
_QUOTE = json.encoder.encode_basestring  # the same encoder's quoting of a string (ensure_ascii=False), in C
_INFINITE = (float("-inf"), float("inf"))


def _encoded(out: dict[str, Any]) -> str:
    """``_ENCODE(out)``, the same text, built directly when every value is a string, an int or a finite float
    (an access line): the encoder's set-up and walk cost more than half of an access line's formatting."""
    parts = []
    for key, value in out.items():
        kind = value.__class__
        if kind is str:
            text = _QUOTE(value)
        elif kind is int:
            text = int.__repr__(value)
        elif kind is float and value == value and value not in _INFINITE:
            text = float.__repr__(value)
        else:
            return _ENCODE(out)  # nested, None, a bool, NaN, something `str()` renders
        parts.append(f"{_QUOTE(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


class JsonFormatter(logging.Formatter):
    _second: tuple[int, str] = (-1, "")  # the last second formatted, as ISO text (one line per request)

    def _ts(self, created: float) -> str:
        """``created`` as ISO 8601 UTC to the millisecond (datetime's isoformat, the date part once a second)."""
        second = int(created)
        micro = round((created - second) * 1e6)  # rounded as datetime rounds it
        if created < 0 or micro >= 1_000_000:
            return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        cached, text = self._second
        if cached != second:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        return f"{text}.{micro // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STD and not k.startswith("_")}
        out = self.fields(record.created, record.levelname, record.name, record.getMessage(), fields)
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["where"] = [f"{f.filename}:{f.lineno}:{f.name}" for f in traceback.extract_tb(record.exc_info[2])][-6:]
        return _encoded(out)

    def fields(self, created: float, level: str, logger: str, msg: str, extra: dict[str, Any]) -> dict[str, Any]:
        """One line's object, in its order: a record's (`format`) and a direct line's (`info_line`) alike."""
        out: dict[str, Any] = {"ts": self._ts(created), "level": level, "logger": logger, "msg": msg}
        rid = extra.get("request_id") or request_id_var.get()
        if rid:
            out["request_id"] = rid
        out.update(extra)
        return out


_direct: logging.StreamHandler[Any] | None = None  # the handler `_configure` installed, in JSON mode


def info_line(logger: logging.Logger, msg: str, fields: dict[str, Any]) -> None:
    """``logger.info(msg, extra=fields)``, the same line, written straight to the stream when the handler
    `setup` installed is the only one that would see it: the logging machinery (a record, its dispatch, the
    formatter's walk over the record's attributes) costs about half of an access line, which every request
    writes. Anything else listening (a test's capture, a filter, a handler of its own) gets the record."""
    handler = _direct
    formatter = handler.formatter if handler is not None else None
    if (
        handler is None
        or not isinstance(formatter, JsonFormatter)
        or handler.filters
        or handler.level > logging.INFO
        or not logger.isEnabledFor(logging.INFO)
    ):
        logger.info(msg, extra=fields)
        return
    node: logging.Logger | None = logger
    while node is not None and node is not logging.root:
        if node.handlers or node.filters or not node.propagate:
            logger.info(msg, extra=fields)  # someone else listens, or the line goes elsewhere
            return
        node = node.parent
    if logging.root.filters or logging.root.handlers != [handler]:
        logger.info(msg, extra=fields)
        return
    text = _encoded(formatter.fields(time.time(), "INFO", logger.name, msg, fields)) + handler.terminator
    # A failed write is dropped, as `logging.raiseExceptions = False` has it: a full disk fails no request.
    with handler.lock, contextlib.suppress(Exception):  # type: ignore[union-attr]  # the lock: made with it
        handler.stream.write(text)
        handler.stream.flush()


def setup(level: str = "INFO", json_lines: bool = True, *, capture_native: bool = True) -> None:
    """Log to stderr, one JSON object per line (``json_lines``), at ``level``, for the whole process.

    In JSON mode nothing else reaches the process's output as plain text either: Python warnings and uncaught
    exceptions become records, and what is written to file descriptors 1 and 2 behind the logging module's
    back — C and C++ libraries (TensorFlow Lite, mediapipe's absl and glog lines), and every child process
    that inherits them, the process pool's workers first — is read back line by line and logged as JSON
    (`NativeOutput`). The records themselves go to a duplicate of the original stderr. Without
    ``capture_native`` (a supervisor about to fork: its reader thread would not survive the fork) each child
    calls `setup` again once forked.
    """
    stream: Any = sys.stderr
    if json_lines and capture_native and NativeOutput.active is None:
        stream = NativeOutput.start().stream
    _configure(level, json_lines, stream)
    if json_lines:
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_thread_uncaught


def setup_worker(level: str = "INFO", json_lines: bool = True) -> None:
    """The same records in a process pool worker: to its stderr, which the parent's `NativeOutput` reads
    (JSON lines pass through unchanged)."""
    _configure(level, json_lines, sys.stderr)


def _configure(level: str, json_lines: bool, stream: Any) -> None:
    global _direct
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    _direct = handler if json_lines else None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # No record carries its caller's file and line, thread or process (the JSON line has none of them): each
    # would cost every record, the access line of every request among them, a frame walk or a look-up.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if json_lines:
        logging.captureWarnings(True)  # warnings.warn() as "py.warnings" records, not two plain lines
        # A failing handler must not print "--- Logging error ---" to stderr: that would be read back and
        # logged again.
        logging.raiseExceptions = False


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("authsvc").critical("uncaught exception", exc_info=(kind, exc, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        logging.getLogger("authsvc").critical(
            "uncaught exception in a thread",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            extra={"thread": getattr(args.thread, "name", None)},
        )


# --- output written behind the logging module's back --------------------------------------------------------

NATIVE = logging.getLogger("authsvc.native")
# absl/glog: "W0000 00:00:1796187159.822199   17158 inference_feedback_manager.cc:114] Feedback manager …"
_GLOG = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ ([^\]\s]+)\] ?(.*)$")
# TensorFlow Lite and absl's early lines: "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_PREFIXED = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|FATAL|CRITICAL):\s*(.*)$")
_LEVELS = {
    "I": logging.INFO,
    "W": logging.WARNING,
    "E": logging.ERROR,
    "F": logging.CRITICAL,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
}
_MAX_LINE = 16 * 1024


def native_record(line: str, stream: str) -> tuple[int, str, dict[str, str]]:
    """The level, message and extra fields of one plain line found on ``stream`` (stdout or stderr)."""
    extra = {"stream": stream}
    glog = _GLOG.match(line)
    if glog is not None:
        extra["where"] = glog.group(2)
        return _LEVELS[glog.group(1)], glog.group(3), extra
    prefixed = _PREFIXED.match(line)
    if prefixed is not None:
        return _LEVELS[prefixed.group(1)], prefixed.group(2), extra
    return (logging.WARNING if stream == "stderr" else logging.INFO), line, extra


class NativeOutput:
    """File descriptors 1 and 2 turned into pipes read by a thread: each line that is a JSON object (a pool
    worker's record) is written through as it is, any other becomes an ``authsvc.native`` record.

    A process that crashes hard cannot log its own last words through a thread of its own, so the fatal-error
    handler (`faulthandler`) writes straight to the original stderr, in plain text.
    """

    active: NativeOutput | None = None

    def __init__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        self.stream = open(self._saved[2], "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        self._readers: dict[int, str] = {}
        for fd, name in ((1, "stdout"), (2, "stderr")):
            read, write = os.pipe()
            os.dup2(write, fd)
            os.close(write)
            self._readers[read] = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="native-output", daemon=True)
        self._thread.start()
        faulthandler.enable(file=self.stream)
        atexit.register(self.stop)

    @classmethod
    def start(cls) -> NativeOutput:
        cls.active = cls()
        return cls.active

    def _pump(self) -> None:
        partial = {fd: b"" for fd in self._readers}
        while self._readers:
            ready, _, _ = select.select(list(self._readers), [], [], 0.1)
            if not ready and self._stop.is_set():
                break
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:  # every writer closed it
                    self._emit(partial.pop(fd), self._readers.pop(fd))
                    os.close(fd)
                    continue
                lines = (partial[fd] + chunk).split(b"\n")
                partial[fd] = lines.pop()
                if len(partial[fd]) > _MAX_LINE:
                    lines.append(partial[fd])
                    partial[fd] = b""
                for line in lines:
                    self._emit(line, self._readers[fd])
        for fd, rest in partial.items():
            if fd in self._readers:
                self._emit(rest, self._readers[fd])

    def _emit(self, raw: bytes, stream: str) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return
        if text.startswith("{") and text.endswith("}"):
            try:
                json.loads(text)
            except ValueError:
                pass
            else:
                handler = logging.getLogger().handlers[0] if logging.getLogger().handlers else None
                if handler is not None:
                    handler.acquire()  # not in the middle of another record's line
                try:
                    self.stream.write(text + "\n")
                finally:
                    if handler is not None:
                        handler.release()
                return
        level, message, extra = native_record(text, stream)
        NATIVE.log(level, message, extra=extra)

    def stop(self) -> None:
        """Put the original descriptors back and log what is still in the pipes (at exit)."""
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)
        self._stop.set()
        self._thread.join(timeout=2)

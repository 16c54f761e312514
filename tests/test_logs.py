"""Every line the service writes is one JSON object (issue 15): its own records, its access lines (with the
lender, the answer's code and the duration), and what native libraries print behind the logging module's back
from the process pool (mediapipe's absl/glog lines, TensorFlow Lite's), read back and logged as JSON."""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from authsvc.logs import JsonFormatter, native_record
from tests.conftest import individual
from tests.served import Served, serve
from tests.shared import fixture_path


def test_native_lines_keep_their_level_and_where() -> None:
    glog = "W0000 00:00:1796187159.822199   17158 inference_feedback_manager.cc:114] Feedback manager requires"
    assert native_record(glog, "stderr") == (
        logging.WARNING,
        "Feedback manager requires",
        {"stream": "stderr", "where": "inference_feedback_manager.cc:114"},
    )
    assert native_record("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", "stderr")[:2] == (
        logging.INFO,
        "Created TensorFlow Lite XNNPACK delegate for CPU.",
    )
    assert native_record("E1202 10:00:00.000001 1 x.cc:1] broken", "stderr")[0] == logging.ERROR
    assert native_record("something plain", "stderr")[0] == logging.WARNING  # unknown on stderr: a warning
    assert native_record("something plain", "stdout")[0] == logging.INFO


def _post(served: Served, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        served.base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {served.key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_served_service_writes_only_json_lines_with_the_face_check_on(tmp_path: Path) -> None:
    photo = base64.b64encode(fixture_path("faces", "obama_1.jpg").read_bytes()).decode()
    with serve(
        tmp_path,
        f"sqlite:///{tmp_path}/a.db",
        AUTHSVC_REGISTRY_PHOTO_FACE_CHECK="true",
        AUTHSVC_SERVER_LOG_LEVEL="INFO",
    ) as served:
        # The face pipeline runs in the pool (whether the photo passes or not): mediapipe loads there.
        status, body = _post(served, "/v1/clients", individual(photo={"content_type": "image/jpeg", "data": photo}))
        assert status in (201, 422), body
        missing, problem = _post(served, "/v1/identifications", {"client_id": "none", "operation": "login"})
        assert missing == 404, problem
    lines = served.log_text().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"line {number} of the service's output is not JSON: {line!r}") from None
        assert isinstance(records[-1], dict), line
    native = [r for r in records if r["logger"] == "authsvc.native"]
    assert native, "no native line was read back: the face pipeline printed nothing, or it was lost"
    assert all(r["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") and r["msg"] for r in native)
    access = [r for r in records if r["logger"] == "authsvc.http" and r.get("route") == "/v1/identifications"]
    assert len(access) == 1, access
    line = access[0]
    assert line["status"] == 404 and line["code"] == "client_not_found" and line["lender_id"], line
    assert isinstance(line["duration_ms"], float) and line["request_id"], line


def test_the_time_stamp_is_isoformat_to_the_millisecond_across_seconds() -> None:
    """The formatter writes the date part once a second (the access line's cost): the text is still exactly
    datetime's, at second boundaries, where rounding carries into the next second, and back in time."""
    formatter = JsonFormatter()
    at = 1_764_745_200.0
    times = [at, at + 0.0004, at + 0.0005, at + 0.9994, at + 0.9995, at + 0.9999996, at + 1.001, at - 86_400.5]
    times += [at + n * 0.0137 for n in range(300)]
    for created in times:
        record = logging.LogRecord("authsvc.http", logging.INFO, __file__, 1, "request", (), None)
        record.created = created
        line = json.loads(formatter.format(record))
        assert line["ts"] == datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"), created


def test_a_direct_line_is_the_line_a_record_would_give_and_listeners_still_get_records() -> None:
    """`info_line` (the access line's way, around the logging machinery) writes what `logger.info` would, and
    hands a record to logging whenever something else listens (a capture, a filter) or the level says no."""
    import io

    from authsvc import logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logs._direct)
    stream = io.StringIO()
    log = logging.getLogger("authsvc.http.test")
    fields = {"request_id": "r-1", "method": "GET", "route": "/v1/x", "status": 404, "duration_ms": 0.51}
    try:
        logs._configure("INFO", True, stream)
        made = logging.getLogRecordFactory()
        records: list[str] = []

        def counted(*args: Any, **kwargs: Any) -> logging.LogRecord:
            records.append(args[0])
            return made(*args, **kwargs)

        logging.setLogRecordFactory(counted)
        try:
            logs.info_line(log, "request", fields)
        finally:
            logging.setLogRecordFactory(made)
        assert records == [], "the line went through the logging machinery"
        logs._direct = None  # the logging machinery's own line, to compare with
        logs.info_line(log, "request", fields)
        logs._configure("INFO", True, stream)
        direct, recorded = stream.getvalue().splitlines()
        after_ts = ', "level": "INFO", "logger": "authsvc.http.test", "msg": "request", "request_id": "r-1"'
        assert after_ts in direct and direct.partition(", ")[2] == recorded.partition(", ")[2], (direct, recorded)
        assert json.loads(direct)["ts"] and json.loads(direct)["status"] == 404

        captured: list[logging.LogRecord] = []

        class Listener(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                captured.append(record)

        listener = Listener()
        for attach in (root, log):
            attach.addHandler(listener)
            logs.info_line(log, "request", fields)
            attach.removeHandler(listener)
        assert [getattr(r, "route", None) for r in captured] == ["/v1/x", "/v1/x"]
        log.setLevel(logging.WARNING)
        before = stream.getvalue()
        logs.info_line(log, "request", fields)
        assert stream.getvalue() == before
    finally:
        log.setLevel(logging.NOTSET)
        root.handlers[:], logs._direct = saved[0], saved[2]
        root.setLevel(saved[1])


def test_a_flat_line_is_encoded_as_the_json_encoder_would() -> None:
    from authsvc.logs import _ENCODE, _encoded

    cases: list[dict[str, Any]] = [
        {"request_id": "a" * 32, "status": 404, "duration_ms": 1.23, "route": "/v1/clients/{client_id}"},
        {"msg": 'quote " backslash \\ newline \n tab \t nul \x00 ё 🙂 \u2028', "n": -(2**70), "f": 1e-7, "g": 1e22},
        {"f": 0.1 + 0.2, "z": 0, "neg": -0.0, "big": 12345678901234567890.0},
        {"nested": {"a": [1, 2]}, "none": None, "yes": True},  # the encoder's own way
        {"nan": float("nan"), "inf": float("inf")},
        {"ключ": "значение"},
        {},
    ]
    for out in cases:
        assert _encoded(out) == _ENCODE(out), out

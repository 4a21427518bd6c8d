from __future__ import annotations

import json
import logging

from extsched.logs import JsonFormatter, TextFormatter


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "extsched.x", logging.WARNING, __file__, 1, "run %s failed", ("r1",), None
    )
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_json_lines_carry_the_ids_as_fields() -> None:
    line = json.loads(
        JsonFormatter().format(
            record(tenant_id="t1", schedule_id="s1", run_id="r1", request_id="q1")
        )
    )
    assert line["message"] == "run r1 failed"
    assert (line["level"], line["logger"]) == ("warning", "extsched.x")
    assert {k: line[k] for k in ("tenant_id", "schedule_id", "run_id", "request_id")} == {
        "tenant_id": "t1",
        "schedule_id": "s1",
        "run_id": "r1",
        "request_id": "q1",
    }


def test_fields_not_listed_are_not_written() -> None:
    line = json.loads(JsonFormatter().format(record(secret_envelope={"values": {"K": "v"}})))
    assert "secret_envelope" not in line
    text = TextFormatter("%(message)s").format(record(tenant_id="t1", password="hunter2"))
    assert text == "run r1 failed tenant_id=t1"


def test_text_lines_show_control_characters_escaped_so_no_line_can_be_forged() -> None:
    rec = logging.LogRecord(
        "extsched.x", logging.INFO, __file__, 1, "tenant %s said %s", ("t", "a\r\nFAKE b"), None
    )
    rec.tenant_id = "t\nx"
    text = TextFormatter("%(levelname)s %(message)s").format(rec)
    assert "\n" not in text and "\r" not in text
    assert text == "INFO tenant t said a\\x0d\\x0aFAKE b tenant_id=t\\x0ax"


def test_a_traceback_keeps_its_lines() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = logging.LogRecord(
            "extsched.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    text = TextFormatter("%(message)s").format(rec)
    assert text.startswith("failed\nTraceback") and "ValueError: boom" in text

"""Logging: JSON lines in production, readable lines in development; ids carried as fields."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# Fields a log call may pass in ``extra``; they are written out when present.
CONTEXT_FIELDS = (
    "tenant_id",
    "schedule_id",
    "run_id",
    "request_id",
    "reason",
    "error",
    "lost_owner",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Control characters in logged text are shown escaped: a value from a request or a Runner
# answer must not start a line of its own (a forged log entry) or drive the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escaped(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = _escaped(record.getMessage()), None
        base = super().format(safe)  # a traceback keeps its own lines
        fields = " ".join(
            f"{name}={_escaped(str(getattr(record, name)))}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        )
        return f"{base} {fields}".rstrip()


def configure(level: str, *, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

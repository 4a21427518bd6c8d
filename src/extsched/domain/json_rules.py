"""The rules for every JSON document the service accepts (SPEC §4), pure.

A body must be JSON text in UTF-8, nested at most ``MAX_DEPTH`` levels, with finite numbers and
valid Unicode strings without NUL. The standard parser lets ``NaN``, ``1e999``, a lone
``"\\ud800"`` and ``"\\u0000"`` (which no PostgreSQL text holds) through, so the parsed value is
walked once to find them; the walk names the top-level field that holds the fault, so a client
sees which of its fields to fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from typing import Any

from extsched.errors import ValidationFailed

MAX_DEPTH = 64
BODY = "body"  # the field name for faults of the document itself

TOO_DEEP = f"JSON is nested deeper than {MAX_DEPTH} levels"
NOT_FINITE = "numbers must be finite (NaN, Infinity and out-of-range numbers are not JSON)"
NOT_UNICODE = "text must be valid Unicode (a lone surrogate such as \\ud800 is not)"
HAS_NUL = "text must not contain NUL (\\u0000) characters"


class JsonRejected(ValueError):
    """The document breaks a rule; ``field_errors`` name where."""

    def __init__(self, field_errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in field_errors.items()))
        self.field_errors = field_errors


def parse(raw: bytes) -> Any:
    """The JSON value of ``raw``, or JsonRejected. An empty body is refused: every route that reads
    a body needs one."""
    if not raw.strip():
        raise JsonRejected({BODY: "a JSON body is required"})
    try:
        value = json.loads(raw)
    except RecursionError:  # far deeper than MAX_DEPTH: the parser gave up first
        raise JsonRejected({BODY: TOO_DEEP}) from None
    except UnicodeDecodeError:
        raise JsonRejected({BODY: "the body is not UTF-8 text"}) from None
    except json.JSONDecodeError as exc:
        raise JsonRejected(
            {BODY: f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"}
        ) from None
    faults = faults_of(value)
    if faults:
        raise JsonRejected(faults)
    return value


def faults_of(value: Any) -> dict[str, str]:
    """Depth, number and text faults of a parsed value, by the top-level field holding each
    (``body`` for the document itself). Empty when the value obeys every rule."""
    faults: dict[str, str] = {}
    top_is_object = isinstance(value, dict)
    # (value, depth of value, the top-level field it belongs to)
    stack: list[tuple[Any, int, str]] = [(value, 1, BODY)]
    while stack:
        item, depth, field = stack.pop()
        if field in faults:
            continue  # one fault per field is enough to report
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                faults[field] = TOO_DEEP
                continue
            for key, child in item.items():
                here = field
                key_fault = _text_fault(key)
                if depth == 1 and top_is_object:
                    if key_fault:
                        faults[BODY] = key_fault
                        continue
                    here = key
                elif key_fault:
                    faults[here] = key_fault
                    break
                stack.append((child, depth + 1, here))
        elif isinstance(item, list):
            if depth > MAX_DEPTH:
                faults[field] = TOO_DEEP
                continue
            stack.extend((child, depth + 1, field) for child in item)
        elif isinstance(item, str):
            text_fault = _text_fault(item)
            if text_fault:
                faults[field] = text_fault
        elif isinstance(item, float) and not math.isfinite(item):
            faults[field] = NOT_FINITE
    return faults


def unknown_keys(body: Any, known: Collection[str]) -> dict[str, str]:
    """ "unknown field" for each key of ``body`` not in ``known``; ValidationFailed when the body
    is not an object at all."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            "the request body must be a JSON object", field_errors={BODY: "expected an object"}
        )
    return {k: "unknown field" for k in body if k not in known}


def _text_fault(text: str) -> str | None:
    if "\x00" in text:
        return HAS_NUL
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_UNICODE
    return None

from __future__ import annotations

import pytest

from extsched.domain import schedule_rules as rules
from extsched.domain.schedule_rules import RuleViolation


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("UTC", "UTC"),
        ("america/new_york", "America/New_York"),
        ("EUROPE/LONDON", "Europe/London"),
        ("US/Eastern", "US/Eastern"),
        ("us/eastern", "US/Eastern"),
        (" Australia/Lord_Howe ", "Australia/Lord_Howe"),
    ],
)
def test_time_zones_are_stored_in_the_databases_spelling(raw: str, stored: str) -> None:
    assert rules.canonical_timezone(raw) == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("Mars/Olympus", "unknown time zone 'Mars/Olympus' (use an IANA name like Europe/Paris)"),
        ("", "timezone is required"),
        (None, "timezone is required"),
        (5, "timezone is required"),
        ("A" * 65, "timezone must be at most 64 characters"),
    ],
)
def test_bad_time_zones_are_rejected(raw: object, message: str) -> None:
    with pytest.raises(RuleViolation) as info:
        rules.canonical_timezone(raw)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "payload",
    [
        {"password": "x"},
        {"nested": {"API-Key": "x"}},
        {"list": [{"client_secret": "x"}]},
        [{"Access_Token": "x"}],
        {"Authorization": "Bearer x"},
        {"db_password": "x"},
        {"PRIVATE_KEY": "x"},
        {"passwd": "x"},
        {"accessKey": "x"},
        {"token": "x"},
    ],
)
def test_credential_looking_keys_are_rejected_at_any_depth(payload: object) -> None:
    with pytest.raises(
        RuleViolation, match="looks like a credential; store credentials as install secrets"
    ):
        rules.check_payload(payload, "POST")


def test_payload_rules() -> None:
    rules.check_payload({"tokens_used": 3, "secretary": "Ann"}, "POST")
    rules.check_payload([1, 2], "POST")
    rules.check_payload(None, "GET")
    with pytest.raises(RuleViolation, match="GET endpoints take no payload"):
        rules.check_payload({}, "GET")
    with pytest.raises(RuleViolation, match="must be a JSON object or array"):
        rules.check_payload("text", "POST")
    with pytest.raises(RuleViolation, match="must be a JSON object or array"):
        rules.check_payload(5, "POST")


def test_payload_size_is_measured_as_compact_json_with_non_ascii_kept() -> None:
    overhead = len('{"k":""}')
    rules.check_payload({"k": "é" * (100_000 - overhead)}, "POST")
    with pytest.raises(RuleViolation, match="at most 100000 characters"):
        rules.check_payload({"k": "é" * (100_001 - overhead)}, "POST")


def test_names_are_trimmed_and_empty_means_none() -> None:
    assert rules.normalize_name("  nightly  ") == "nightly"
    assert rules.normalize_name("   ") is None
    assert rules.normalize_name(None) is None
    rules.normalize_name("n" * 128)
    with pytest.raises(RuleViolation, match="at most 128"):
        rules.normalize_name("n" * 129)

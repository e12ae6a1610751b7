"""The scrubber and the checks that keep connection strings out of messages (hostile inputs).

The scrubber remembers secrets process-wide, so every test uses its own marker.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import uuid

import pytest

from schemaop import redaction
from schemaop.engine.connect import check_conninfo, describe
from schemaop.engine.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    InvalidConnectionString,
    connection_failure,
)
from schemaop.schemas import load_schema_files, validate

pytestmark = pytest.mark.unit


def marker(prefix: str = "Mk") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def test_unencoded_at_in_the_password() -> None:
    tail = marker()
    url = f"postgresql://mig:Lea@{tail}@db.example/app"
    redaction.remember_connection_string(url)
    for leak in (
        f"failed to resolve host '{tail}@db.example'",
        f"cannot connect to mig@{tail}@db.example:5432/app",
        f"Lea@{tail}",
        url,
        url.replace("//", "/"),  # how a path normalisation shows it
    ):
        assert tail not in redaction.scrub(leak), leak


def test_unencoded_at_is_masked_even_when_never_remembered() -> None:
    tail = marker()
    for text in (
        f"postgresql://mig:Lea@{tail}@host/db",
        f"postgres:/mig:Lea@{tail}@host/db is not a directory",
        f"x host=db password={tail} dbname=app",
    ):
        assert tail not in redaction.scrub(text), text


def test_colon_and_slash_in_the_password() -> None:
    one, two = marker("Aa"), marker("Bb")
    redaction.remember_connection_string(f"postgresql://mig:{one}:{two}/xy@host/db")
    # libpq reads host "mig", port the first part, dbname the rest: every fragment goes.
    text = f"host 'mig' port '{one}' database '{two}/xy@host/db'"
    scrubbed = redaction.scrub(text)
    assert one not in scrubbed and two not in scrubbed
    # Fragments shorter than MIN_FRAGMENT_LENGTH are not scrubbed literally (documented).
    assert "xy" in scrubbed


def test_question_mark_then_unencoded_at() -> None:
    tail = marker()
    redaction.remember_connection_string(f"postgresql://mig:x?y@{tail}@host/db")
    assert tail not in redaction.scrub(f"host '{tail}@host'")


def test_percent_encoded_password() -> None:
    tail = marker()
    redaction.remember_connection_string(f"postgresql://mig:Lea%40{tail}@host/db")
    assert tail not in redaction.scrub(f"password is Lea@{tail}")
    assert tail not in redaction.scrub(f"raw Lea%40{tail}")


def test_password_that_is_part_of_the_host_over_masks() -> None:
    password = marker("db")
    redaction.remember_connection_string(f"postgresql://mig:{password}@{password}.example/app")
    assert redaction.scrub(f"mig@{password}.example:5432/app") == "mig@***.example:5432/app"


def test_short_values_are_not_scrubbed_literally() -> None:
    redaction.remember("qz")
    assert redaction.scrub("a qz b") == "a qz b"
    redaction.remember("q7z")
    assert redaction.scrub("a q7z b") == "a *** b"
    assert redaction.MIN_SECRET_LENGTH == 3 and redaction.MIN_FRAGMENT_LENGTH == 4


def test_kv_conninfo_and_unparseable_secret_content() -> None:
    pw, junk = marker(), marker("Junk")
    redaction.remember_connection_string(f"host=db password='{pw}' user=u")
    redaction.remember_connection_string(junk)  # a Secret that is not a URL at all
    assert pw not in redaction.scrub(f"got {pw}") and junk not in redaction.scrub(f"got {junk}")


def test_json_forms() -> None:
    pw = marker() + '"q\\'
    redaction.remember(pw)
    doc = json.dumps({"message": f"failed with {pw}", "fingerprint": "abc"}, sort_keys=True)
    cleaned = redaction.scrub_json_text(doc)
    assert json.loads(cleaned)["message"] == "failed with ***"
    assert pw not in cleaned and json.dumps(pw)[1:-1] not in cleaned
    compact = json.dumps({"error": {"message": pw}}, separators=(",", ":"))
    assert json.loads(redaction.scrub_json_text(compact)) == {"error": {"message": "***"}}


def test_scrub_messages_leaves_machine_fields_alone() -> None:
    pw = "dead" + marker("beef")
    redaction.remember(pw)
    status = {
        "schemaHash": f"00{pw}00",
        "failure": {"message": f"bad {pw}", "detail": pw, "attempts": 2},
        "conditions": [{"type": "Ready", "message": f"x {pw}", "reason": "DatabaseUnreachable"}],
    }
    out = redaction.scrub_messages(status)
    assert out["schemaHash"] == status["schemaHash"]
    assert pw not in json.dumps({k: v for k, v in out.items() if k != "schemaHash"})


def test_log_records_are_scrubbed_whatever_the_logger(caplog: pytest.LogCaptureFixture) -> None:
    pw = marker()
    redaction.remember(pw)
    redaction.install_log_scrubber()
    log = logging.getLogger(f"some.library.{uuid.uuid4().hex}")
    with caplog.at_level(logging.INFO):
        log.info("connecting with %s", pw)
        try:
            raise ValueError(f"bad password {pw}")
        except ValueError:
            log.exception("it failed")
    assert caplog.records
    text = caplog.text + "".join(logging.Formatter().format(r) for r in caplog.records)
    assert pw not in text and "***" in text


@pytest.mark.parametrize(
    "value, url",
    [
        ("postgresql://u:p@h/db", True),
        ("mig:pw@host/db", True),
        ("host=h password=x", True),
        ("migrations/", False),
        ("node_modules/@scope/x", False),
        ("2s", False),
    ],
)
def test_looks_like_url(value: str, url: bool) -> None:
    assert redaction.looks_like_url(value) is url


def test_arguments_refuse_urls_without_echoing_them() -> None:
    url = f"postgresql://mig:Lea@{marker()}@host/db"
    for check in (
        redaction.path_argument,
        redaction.schema_name_argument,
        redaction.schema_list_argument,
    ):
        with pytest.raises(argparse.ArgumentTypeError) as err:
            check(url)
        assert "Lea" not in str(err.value) and "host" not in str(err.value)
    assert redaction.shown(url).startswith("(not shown")
    assert redaction.shown("5x") == "'5x'"
    assert redaction.schema_name_argument("Odd Schema") == "Odd Schema"
    assert redaction.schema_list_argument("app, public") == "app, public"
    with pytest.raises(argparse.ArgumentTypeError):
        redaction.schema_name_argument("x" * 64)


@pytest.mark.parametrize(
    "template",
    [
        "postgresql://mig:Lea@{m}@host/db",  # unencoded @
        "postgresql://mig:pa/{m}@host/db",  # unencoded /
        "postgresql://mig:{m}/x@host/db",
        "postgresql://mig:{m}@host:12ab/db",  # port is not a number
        "postgresql://mig:Le a{m}@host/db",  # unencoded space
        "postgresql://mig:p%zz{m}@host/db",  # bad %-escape
        "{m}",  # a Secret holding only a password
        "host=h@{m} user=u",
        "postgresql://mig:x?y@h@{m}/db",
    ],
)
def test_unusable_urls_are_refused_naming_only_their_source(template: str) -> None:
    m = marker()
    url = template.format(m=m)
    with pytest.raises(InvalidConnectionString) as err:
        check_conninfo(url, "Secret ns/db key url")
    message = str(err.value)
    assert message.startswith("the database URL from Secret ns/db key url cannot be used: ")
    for fragment in (m, m[:6], "Lea", "host=h"):
        assert fragment not in message
    assert "\n" not in message and not err.value.retryable


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://mig:Lea%40kPw99@host/db",
        "postgresql://mig:pa:ss@host/db",  # ':' in a password is fine for libpq
        "postgresql://mig:x?y@host/db",
        "host=h password=a@b user=u",
        "postgresql://mig@h1:5432,h2:5433/db?sslmode=disable",
        "postgresql://mig:pw@[::1]:5432/db",
        "postgresql:///db?host=/tmp",
        "",
    ],
)
def test_well_formed_urls_pass(url: str) -> None:
    check_conninfo(url, "--database-url")


def test_describe_of_a_checked_url() -> None:
    params = check_conninfo("postgresql://mig:Lea%40kPw99@db:6432/shop", "x")
    assert describe(params) == "mig@db:6432/shop"


@pytest.mark.parametrize(
    "message, cls, text",
    [
        (
            "failed to resolve host 'kPw99@host': [Errno -2] Name or service not known",
            ConnectionFailed,
            "the host name cannot be resolved",
        ),
        (
            'connection to server at "database.local" (10.0.0.1), port 5432 failed: '
            "Connection refused\n\tIs the server running on that host?",
            ConnectionFailed,
            "connection refused (is PostgreSQL listening there?)",
        ),
        (
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  password '
            'authentication failed for user "kPw99"',
            AuthenticationFailed,
            "password authentication failed",
        ),
        (
            'invalid integer value "kPw99" for connection option "port"',
            InvalidConnectionString,
            "a numeric option has another value",
        ),
        ("something nobody expected kPw99", ConnectionFailed, "the connection failed"),
    ],
)
def test_connection_failures_never_quote_libpq(
    message: str, cls: type[ConnectionFailed], text: str
) -> None:
    got_cls, got_text = connection_failure(Exception(message))
    assert (got_cls, got_text) == (cls, text)
    assert "kPw99" not in got_text


def test_crd_schema_names_follow_the_same_rule() -> None:
    spec = load_schema_files()["schemaversion.json"]["properties"]["spec"]["properties"]
    for pattern in (spec["historySchema"]["pattern"], spec["schemas"]["items"]["pattern"]):
        assert pattern.replace("]+$", "]{1,63}$") == redaction.IDENTIFIER_RE.pattern


def test_a_url_as_a_schema_name_is_refused_by_the_crd_schema_without_echo() -> None:
    tail = marker()
    url = f"postgresql://mig:Lea@{tail}@host/db"
    doc = {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaVersion",
        "metadata": {"name": "db"},
        "spec": {
            "connection": {"urlFrom": {"secretKeyRef": {"name": "s", "key": "url"}}},
            "targetVersion": "latest",
            "historySchema": url,
            "schemas": ["public", url],
        },
    }
    problems = validate(doc)
    assert sorted(p.path for p in problems) == ["spec.historySchema", "spec.schemas.1"]
    assert tail not in " ".join(str(p) for p in problems)


def test_cli_errors_are_one_scrubbed_line(capsys: pytest.CaptureFixture[str]) -> None:
    from schemaop.cli import main

    tail = marker()
    url = f"postgresql://mig:Lea@{tail}@host/db"
    for argv in (
        ["migrate", "--dir", "x", "--snapshot", url],  # argparse's own "invalid choice: 'URL'"
        ["lint", ".", "--applied-through", url],  # the command's own message
        ["status", "--limit", url],
    ):
        with pytest.raises(SystemExit) as exit_:
            code = main(argv)
            raise SystemExit(code)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert tail not in err and len(err.strip().splitlines()) == 1, err


def test_scrubbing_writer_passes_everything_else_through() -> None:
    import io

    pw = marker()
    redaction.remember(pw)
    buffer = io.StringIO()
    writer = redaction.ScrubbingWriter(buffer)
    assert writer.write(f"a {pw} b\n") == len(f"a {pw} b\n")
    writer.flush()
    assert buffer.getvalue() == "a *** b\n" and writer.getvalue() == "a *** b\n"


def test_overlapping_values_are_masked_as_their_union() -> None:
    head, tail = marker("Hd"), marker("Tl")
    redaction.remember(head + "XYZW")
    redaction.remember("XYZW" + tail)
    scrubbed = redaction.scrub(f"a {head}XYZW{tail} b")
    assert scrubbed == "a *** b"


def test_scrubbing_stays_fast_with_thousands_of_secrets() -> None:
    # An operator reads one Secret per SchemaVersion; every log record is scrubbed.
    started = time.monotonic()
    message = "cannot connect to app@db.example:5432/app (Secret ns/db key url): timed out"
    for _ in range(1000):
        redaction.remember_connection_string(f"postgresql://u:{uuid.uuid4().hex}@h/db")
        redaction.scrub(message)
    for _ in range(1000):
        assert redaction.scrub(message) == message
    # A flat alternation took 0.2 s a message here (400 s in all); this takes about 2 s.
    assert time.monotonic() - started < 60


def test_scrubbing_a_long_word_takes_linear_time() -> None:
    # A URL pattern with an unbounded scheme scanned each long word once per letter:
    # a 64 KiB log line (a run record's log tail) took minutes.
    started = time.monotonic()
    redaction.scrub("x" * 65536)
    assert time.monotonic() - started < 5
    masked = redaction.scrub("y" * 100 + "postgresql://u:Zq-long-scheme-pw@host/db")
    assert "Zq-long-scheme-pw" not in masked and masked.endswith(":***@host/db")

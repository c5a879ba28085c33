"""Logs: JSON lines for a log shipper, readable lines for a terminal, the filter, `Sometimes`."""

import io
import json
import re

import pytest
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from chathub.logs import Sometimes, json_observer, observer_for, text_observer

WHEN = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def event(text: str, level: LogLevel = LogLevel.info, namespace: str = "chathub.x", **fields):
    """A Twisted log event as a Logger makes it."""
    return {
        "log_format": text,
        "log_level": level,
        "log_namespace": namespace,
        "log_source": None,
        "log_time": WHEN,
        **fields,
    }


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# --- the JSON observer ------------------------------------------------------------------------


def test_json_lines_carry_time_level_event_and_the_events_fields():
    """Each event is one JSON object on its own line: time, level, the formatted event, fields."""
    out = io.StringIO()
    log = Logger(namespace="chathub.service", observer=json_observer(out))
    log.info("listening for {transport} on {port}", transport="telnet", port=1025)
    log.warn("store trouble: {pending} rows wait", pending=12)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert ISO_TIME.match(first.pop("time"))
    assert first == {
        "level": "info",
        "event": "listening for telnet on 1025",
        "transport": "telnet",
        "port": 1025,
    }
    assert (second["level"], second["event"], second["pending"]) == (
        "warn",
        "store trouble: 12 rows wait",
        12,
    )


def test_json_time_is_utc_with_milliseconds():
    """`time` is the event's own time, in UTC, to the millisecond, ending in Z."""
    out = io.StringIO()
    json_observer(out)(event("started"))
    assert json.loads(out.getvalue())["time"] == "2023-11-14T22:13:20.250Z"


def test_json_lines_keep_only_plain_fields():
    """Objects, lists and Twisted's bookkeeping never become fields; plain values all do."""
    out = io.StringIO()
    fields = {"count": 3, "ratio": 0.5, "ok": True, "peer": "127.0.0.1", "none": None}
    json_observer(out)(
        event("refused", connection=object(), nicks=["a", "b"], detail={"x": 1}, **fields)
    )
    line = json.loads(out.getvalue())
    assert set(line) == {"time", "level", "event", *fields}
    for name, value in fields.items():
        assert line[name] == value


def test_a_field_with_a_newline_stays_on_one_line():
    """A field or format holding a line break is escaped: one event is still one line."""
    out = io.StringIO()
    json_observer(out)(event("bad peer {peer}", peer="evil\nforged line"))
    assert out.getvalue().count("\n") == 1
    assert json.loads(out.getvalue())["peer"] == "evil\nforged line"


def test_a_failure_is_logged_as_its_error_message():
    """`log.failure` gives a critical line with the error's message, not a traceback."""
    out = io.StringIO()
    log = Logger(namespace="chathub.store", observer=json_observer(out))
    log.failure("history write failed", Failure(OSError("disk full")))
    line = json.loads(out.getvalue())
    assert (line["level"], line["event"], line["error"]) == (
        "critical",
        "history write failed",
        "disk full",
    )
    assert "Traceback" not in out.getvalue()


# --- the text observer ------------------------------------------------------------------------


def test_text_lines_are_one_readable_line_each():
    """On a terminal: `TIME LEVEL text`, one line per event."""
    out = io.StringIO()
    observe = text_observer(out)
    observe(event("listening for {transport} on {port}", transport="web", port=8080))
    observe(event("draining: {clients} clients", LogLevel.warn, clients=3))
    assert out.getvalue() == (
        "2023-11-14T22:13:20.250Z info listening for web on 8080\n"
        "2023-11-14T22:13:20.250Z warn draining: 3 clients\n"
    )


def test_text_lines_end_a_failure_with_its_message():
    """A failure's message follows the event's text on the same line."""
    out = io.StringIO()
    text_observer(out)(event("write failed", LogLevel.error, log_failure=Failure(OSError("gone"))))
    assert out.getvalue() == "2023-11-14T22:13:20.250Z error write failed: gone\n"


def test_json_unless_the_output_is_a_terminal():
    """`observer_for` writes JSON to a pipe or file and readable text to a terminal."""
    pipe, terminal = io.StringIO(), Terminal()
    observer_for(pipe)(event("started"))
    observer_for(terminal)(event("started"))
    assert json.loads(pipe.getvalue())["event"] == "started"
    assert terminal.getvalue() == "2023-11-14T22:13:20.250Z info started\n"


# --- the filter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "level"),
    [
        ("chathub.service", LogLevel.info),
        ("chathub.stream", LogLevel.debug),
        ("twisted.internet.tcp.Port", LogLevel.warn),
        ("autobahn.websocket.protocol", LogLevel.error),
        ("log_legacy", LogLevel.critical),
    ],
)
def test_the_filter_keeps_chathubs_events_and_anyones_warnings(namespace, level):
    """chathub's own events at any level and everyone's warnings and errors are written."""
    out = io.StringIO()
    observer_for(out)(event("kept", level, namespace))
    assert json.loads(out.getvalue())["event"] == "kept"


@pytest.mark.parametrize(
    "namespace",
    ["twisted.internet.protocol.Factory", "twisted.web.server.Site", "autobahn.x", "log_legacy"],
)
def test_the_filter_drops_other_libraries_info_chatter(namespace):
    """`Starting factory` and the like from Twisted (or anyone not chathub) at info are left out."""
    out = io.StringIO()
    observer_for(out)(event("Starting factory {factory!r}", LogLevel.info, namespace))
    assert out.getvalue() == ""


# --- Sometimes --------------------------------------------------------------------------------


def test_sometimes_lets_one_line_a_second_through_and_counts_the_rest():
    """Forty refusals over ten seconds make ten lines, each counting the three left out."""
    now = [0.0]
    sometimes = Sometimes(lambda: now[0])
    answers = []
    for _ in range(40):
        answers.append(sometimes.due())
        now[0] += 0.25
    assert [a for a in answers if a is not None] == [0] + [3] * 9
    assert answers[:5] == [0, None, None, None, 3]
    assert sometimes.left_out == 3  # the last second's, for the next line to report


def test_sometimes_after_a_quiet_spell_logs_at_once_with_nothing_left_out():
    """A line long after the last one is due at once and reports no others."""
    now = [100.0]
    sometimes = Sometimes(lambda: now[0], seconds=1.0)
    assert sometimes.due() == 0
    assert sometimes.due() is None
    now[0] += 60
    assert sometimes.due() == 1
    now[0] += 60
    assert sometimes.due() == 0

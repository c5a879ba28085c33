"""Logs: one line per event that matters, as JSON when standard error is not a terminal.

Rules:
- Events that matter: start, listening, a connection refused by a limit, store trouble,
  draining and stopping. Never message text, never a password: log calls pass counts, codes,
  peers and connection ids as fields.
- Standard error a terminal: readable lines (`2026-11-30T21:15:12Z info listening ...`);
  otherwise one JSON object per line (`{"time":..., "level":..., "event":..., fields...}`) for
  a log shipper.
- Twisted's own chatter (factories starting and stopping) is left out; its warnings and
  errors are kept.
- `Sometimes` keeps a log line that a flood could repeat (a refused connection) to one a
  second, with the count of those it left out.
"""

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any, cast

from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogLevel,
    PredicateResult,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import provider

# Fields of a Twisted log event that are its own bookkeeping, not what the event says.
_INTERNAL = frozenset(
    (
        "log_format",
        "log_level",
        "log_namespace",
        "log_source",
        "log_time",
        "log_logger",
        "log_system",
        "log_io",
        "log_failure",
        "log_flattened",
        "log_trace",
        "log_text",
        "format",
        "message",
        "isError",
        "system",
        "time",
    )
)


def _fields(event: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in event.items()
        if key not in _INTERNAL and isinstance(value, str | int | float | bool | type(None))
    }


def _time(event: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(event.get("log_time", 0.0), UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_observer(out: IO[str]) -> ILogObserver:
    @provider(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        level = event.get("log_level", LogLevel.info)
        line = {"time": _time(event), "level": level.name, "event": formatEvent(event)}
        line.update(_fields(event))
        if event.get("log_failure") is not None:
            line["error"] = event["log_failure"].getErrorMessage()
        out.write(json.dumps(line, default=str) + "\n")
        out.flush()

    return cast(ILogObserver, observe)


def text_observer(out: IO[str]) -> ILogObserver:
    @provider(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        level = event.get("log_level", LogLevel.info)
        text = formatEvent(event)
        if event.get("log_failure") is not None:
            text += f": {event['log_failure'].getErrorMessage()}"
        out.write(f"{_time(event)} {level.name} {text}\n")
        out.flush()

    return cast(ILogObserver, observe)


@provider(ILogFilterPredicate)
def _wanted(event: dict[str, Any]) -> Any:
    """chathub's own events, and anyone's warnings and errors (a PredicateResult)."""
    level = event.get("log_level", LogLevel.info)
    namespace = str(event.get("log_namespace", ""))
    if level >= LogLevel.warn or namespace.startswith("chathub"):
        return PredicateResult.maybe
    return PredicateResult.no


def observer_for(out: IO[str]) -> ILogObserver:
    """What `start_logging` logs to: the events that matter, as JSON lines unless `out` is a
    terminal."""
    observer = text_observer(out) if out.isatty() else json_observer(out)
    return FilteringLogObserver(observer, [cast(ILogFilterPredicate, _wanted)])


def start_logging(out: IO[str] = sys.stderr) -> None:
    """Send the process's log to `out` (see `observer_for`)."""
    globalLogBeginner.beginLoggingTo([observer_for(out)], redirectStandardIO=False)


class Sometimes:
    """Lets a repeated log line through at most once every `seconds`, counting the rest."""

    def __init__(self, clock: Callable[[], float], seconds: float = 1.0) -> None:
        self.clock = clock
        self.seconds = seconds
        self._last = -seconds
        self.left_out = 0

    def due(self) -> int | None:
        """The count left out since the last line if one may be logged now, else None."""
        now = self.clock()
        if now - self._last < self.seconds:
            self.left_out += 1
            return None
        self._last = now
        left_out, self.left_out = self.left_out, 0
        return left_out

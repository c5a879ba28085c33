"""Answering an HTTP request now or later: the body may come from a read off the reactor thread.

Rules:
- `answer(request, start)` calls `start(reply)`; `reply(body)` is called once, at once (the
  body is returned to twisted.web as usual) or later (it is written and the request finished).
- A client that went away meanwhile gets nothing written; nothing raises.
- JSON answers (`send_json`, `send_error`) are UTF-8 with `Cache-Control: no-store`; an error
  is `{"error": CODE, "message": TEXT}`.
"""

import json
from collections.abc import Callable
from typing import Any

from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

Reply = Callable[[bytes], None]


def answer(request: Request, start: Callable[[Reply], None]) -> bytes | int:
    """The body `start` replies with, or NOT_DONE_YET when it replies later."""
    now: list[bytes] = []
    later = False
    gone = False

    def went_away(_: Failure) -> None:
        nonlocal gone
        gone = True

    def reply(body: bytes) -> None:
        if not later:
            now.append(body)
        elif not gone:
            request.write(body)
            request.finish()

    start(reply)
    if now:
        return now[0]
    later = True
    request.notifyFinish().addErrback(went_away)
    return NOT_DONE_YET


def send_json(request: Request, body: Any, code: int = 200) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    # "replace": a lone surrogate in stored text must not turn an answer into a 500.
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


def send_error(request: Request, code: int, error: str, message: str) -> bytes:
    return send_json(request, {"error": error, "message": message}, code)

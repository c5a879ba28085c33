"""Answering an HTTP request now or later: the body may come from a read off the reactor thread.

Rules:
- `answer(request, start)` calls `start(reply)`; `reply(body)` is called once, at once (the
  body is returned to twisted.web as usual) or later (it is written and the request finished).
- A client that went away meanwhile gets nothing written; nothing raises.
"""

from collections.abc import Callable

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

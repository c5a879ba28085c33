"""The web port's HTTP channel: twisted.web's `HTTPChannel`, `Request` and `Site`, with limits.

twisted.web parses HTTP/1.1 carefully but leaves the limits on what a client may make it hold
to the application (DESIGN.md, "Known traps"). Here, for every connection of the web port:

Rules:
- Admission. A connection is counted with the hub (`Admission`: `--max-connections`,
  `--max-per-ip`) from the moment it is accepted until it is gone, whatever it does. `/ws`
  hands the same admission to the WebSocket connection it becomes (`web.WebSocketUpgrade`),
  so a WebSocket takes one place. A refused connection is answered 503 or 429 with
  `Retry-After` once its first bytes show whether it asks for `/api` (or after `linger`).
- Descriptors. A new socket gets the lowest free descriptor number, so a connection whose
  number is at or past the process's limit (RLIMIT_NOFILE) minus `--fd-reserve` proves that
  every descriptor below is in use: it is answered 503 and closed at once, before any other
  check. HTTP connections never hold the reserve; telnet, files and established connections
  keep it.
- Time. A request has `--request-timeout` seconds, from when the server is ready to read it
  (accepted, or the previous response handed to the transport), to deliver its head and its
  body: then 408, or a silent close when nothing of a new request has come (an idle
  keep-alive connection). A response the client does not take (the transport keeps the
  channel paused) for `--slow-timeout` seconds cuts the connection.
- Size. The request line and headers: at most `--max-header-bytes` together (a longer request
  line is 414, else 431) and `max_header_fields` lines (431). The body: at most
  `--max-body-bytes` (413, as soon as the declared length, or the chunks read, pass it), kept
  in memory: twisted.web would spool a body over 100 KB to a temporary file.
- Pipelining. One request in progress at a time (twisted.web's own rule), and the next is not
  even parsed while the transport is still full of the previous response (it paused the
  channel): a client that sends many requests and reads nothing costs one response, not one
  per request.
- Host. A request for a name the server does not serve (`origins.host_served`) is 421, and an
  HTTP/1.1 request without a Host is 400.
- Answers. Every refusal is counted (`Counters`) and says why: JSON `{"error", "message"}`
  under `/api`, plain text elsewhere. A refusal that ends the connection says
  `Connection: close`, then the channel reads and drops what the client still sends for
  `linger` seconds, or until it has dropped `--max-body-bytes` (a lingering close): closing a
  socket with unread input sends a TCP reset, which can destroy the answer before the client
  reads it.
"""

import json
import resource
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.server import Request

from chathub import internals
from chathub.checks import number
from chathub.events import Error
from chathub.limits import Counters
from chathub.stream import Admission, peer_address

if TYPE_CHECKING:
    from chathub.httpsite import HttpSite

log = Logger()

# The reason phrases of the statuses this module answers with (Twisted's table lacks some).
REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    421: b"Misdirected Request",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


def wants_json(target: bytes | None) -> bool:
    """Whether a request target is under `/api`, whose answers (errors too) are JSON."""
    if not target:
        return False
    path = target.split(b"?", 1)[0]
    return path == b"/api" or path.startswith(b"/api/")


def request_target(line: bytes) -> bytes | None:
    """The target of a request line (`GET /path HTTP/1.1`), or of as much of it as came."""
    parts = line.split(b"\n", 1)[0].split(b" ", 2)
    return parts[1] if len(parts) > 1 else None


def error_body(code: str, message: str, as_json: bool) -> tuple[bytes, bytes]:
    """(Content-Type, body) of an error: `{"error", "message"}` or a line of text."""
    if as_json:
        body = json.dumps({"error": code, "message": message}, ensure_ascii=False)
        return b"application/json; charset=utf-8", body.encode("utf-8", "replace")
    return b"text/plain; charset=utf-8", (message + "\n").encode("utf-8", "replace")


def answer(
    status: int, code: str, message: str, as_json: bool, retry_after: int | None = None
) -> bytes:
    """A whole HTTP/1.1 response refusing a request, after which the connection closes."""
    content_type, body = error_body(code, message, as_json)
    lines = [
        b"HTTP/1.1 %d %s" % (status, REASONS[status]),
        b"Content-Type: " + content_type,
        b"Content-Length: %d" % len(body),
        b"Cache-Control: no-store",
        b"Connection: close",
    ]
    if retry_after is not None:
        lines.append(b"Retry-After: %d" % retry_after)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def descriptor_limit() -> int | None:
    """The process's soft limit of open descriptors (`ulimit -n`); None when unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def descriptor_number(transport: Any) -> int | None:
    """The descriptor of a connection's socket, through a TLS layer if there is one; None for
    a transport without a socket (a test's)."""
    for _ in range(3):
        get_handle = getattr(transport, "getHandle", None)
        handle = get_handle() if get_handle is not None else None
        if isinstance(handle, socket.socket):
            return handle.fileno()
        transport = getattr(transport, "transport", None)  # TLS wraps the TCP transport
        if transport is None:
            return None
    return None


class HttpChannel(internals.BadRequestHook, HTTPChannel):
    """One connection of the web port: twisted.web's channel, with the module's limits."""

    site: "HttpSite"  # set by the Site that builds the channel (httpsite.py)
    transport: Any  # TCP, TLS or UNIX

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # inherited, unannotated
        self.admission: Admission | None = None
        # (status, code, message) of a refused connection, answered once its first bytes come.
        self._refusal: tuple[int, str, str] | None = None
        self._closing = False  # an answer that ends the connection was sent: input is dropped
        self._upgraded = False  # the connection became a WebSocket: its timers are not ours
        self._transport_full = False  # the transport paused us: a response waits to go out
        self._held: Request | None = None  # a finished request, held until the transport drains
        self._deadline: IDelayedCall | None = None  # --request-timeout
        self._drain: IDelayedCall | None = None  # --slow-timeout while the transport is full
        self._linger: IDelayedCall | None = None
        self._dropped = 0  # bytes read and dropped while lingering
        self._request_started = False  # bytes of the request awaited have arrived
        self._head_bytes = 0
        self._head_lines = 0
        self._target: bytes | None = None  # the request target, once its line has come

    @property
    def counters(self) -> Counters:
        return self.site.hub.counters

    @property
    def closing(self) -> bool:
        """Whether the connection is ending after a refusal (nothing more is parsed)."""
        return self._closing

    # --- accepting ------------------------------------------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()  # type: ignore[no-untyped-call]
        site = self.site
        settings = site.settings
        # Twisted's own head limits, set no tighter than ours so ours answer first.
        self.MAX_LENGTH = settings.max_header_bytes
        self.totalHeadersSize = settings.max_header_bytes
        self.maxHeaders = settings.max_header_fields
        fd = descriptor_number(self.transport)
        if fd is not None and site.descriptor_line is not None and fd >= site.descriptor_line:
            # No waiting here: the point is to give the descriptor back at once.
            self.counters.connections_refused_descriptors += 1
            self._closing = True
            message = "the server has too many open connections; try again later"
            self.transport.write(answer(503, "busy", message, False, settings.retry_after))
            self.loseConnection()  # type: ignore[no-untyped-call]
            return
        taken = Admission.take(site.hub, peer_address(self.transport))
        if isinstance(taken, Error):
            status = 503 if taken.code == "server-full" else 429
            self._refusal = (status, taken.code, taken.message)
            self._linger = self._later(settings.linger, lambda: self._answer_refusal(b""))
            return
        self.admission = taken
        self._start_deadline()

    def _answer_refusal(self, data: bytes) -> None:
        """Answer a refused connection, in JSON if its first bytes ask for `/api`."""
        assert self._refusal is not None
        status, code, message = self._refusal
        self._refusal = None
        self._cancel_linger()
        self._target = request_target(data)
        self._refuse(status, code, message, self.site.settings.retry_after)

    # --- reading a request ----------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self._refusal is not None:
            self._answer_refusal(data)
            return
        if self._closing:
            # After a refusal what the client still sends is dropped, up to a point.
            self._dropped += len(data)
            if self._linger is not None and self._dropped > self.site.settings.max_body_bytes:
                self._cancel_linger()
                self.transport.abortConnection()
            return
        if self._deadline is not None:
            self._request_started = True
        super().dataReceived(data)  # type: ignore[no-untyped-call]

    def lineReceived(self, line: bytes) -> None:
        if self._closing:
            return
        if self._head_lines == 0:
            if not line:  # the one empty line before a request twisted.web forgives
                super().lineReceived(line)  # type: ignore[no-untyped-call]
                return
            self._target = request_target(line)
        self._head_lines += 1
        self._head_bytes += len(line) + 2
        settings = self.site.settings
        if self._head_bytes > settings.max_header_bytes:
            self._head_too_large(first=self._head_lines == 1)
        elif self._head_lines > settings.max_header_fields + 1:
            self.counters.http_head_too_large += 1
            message = f"a request has at most {settings.max_header_fields} header fields"
            self._refuse(431, "too-large", message)
        else:
            super().lineReceived(line)  # type: ignore[no-untyped-call]

    def lineLengthExceeded(self, line: bytes) -> None:
        if self._closing:
            return
        first = self._head_lines == 0
        if first:
            self._target = request_target(line)  # as much of it as came
        self._head_too_large(first)

    def _head_too_large(self, first: bool) -> None:
        self.counters.http_head_too_large += 1
        limit = self.site.settings.max_header_bytes
        if first:
            self._refuse(414, "too-large", f"the request line is longer than {limit} bytes")
        else:
            message = f"the request line and headers are longer than {limit} bytes"
            self._refuse(431, "too-large", message)

    def allHeadersReceived(self) -> None:
        limit = self.site.settings.max_body_bytes
        if self.length is not None and self.length > limit:
            self.body_too_large()  # before Twisted would invite the body (100 Continue)
            return
        super().allHeadersReceived()  # type: ignore[no-untyped-call]

    def body_too_large(self) -> None:
        """Refuse the request whose body passed `--max-body-bytes` (declared or read)."""
        self.counters.http_body_too_large += 1
        limit = self.site.settings.max_body_bytes
        self._refuse(413, "too-large", f"a request body is at most {limit} bytes")

    def rawDataReceived(self, data: bytes) -> None:
        if not self._closing:
            super().rawDataReceived(data)

    def allContentReceived(self) -> None:
        if self._closing:
            return  # the end of a body refused before it ended, in the same read
        self._cancel_deadline()
        super().allContentReceived()  # type: ignore[no-untyped-call]

    def bad_request(self) -> None:
        """Twisted found the request malformed (`internals.BadRequestHook`)."""
        self.counters.http_bad_request += 1
        self._refuse(400, "bad-request", "the request is malformed")

    # --- between requests -----------------------------------------------------------------------

    def requestDone(self, request: Request) -> None:
        if self._transport_full and self.persistent and not self._closing:
            self._held = request  # the next request waits until this response has drained
            return
        self._next_request(request)

    def _next_request(self, request: Request) -> None:
        if self.persistent and not self._closing:
            self._start_deadline()  # before Twisted parses what is buffered, which may stop it
        super().requestDone(request)  # type: ignore[no-untyped-call]

    def pauseProducing(self) -> None:
        self._transport_full = True
        slow = self.site.slow_timeout
        if self._drain is None and slow > 0 and not self._upgraded and not self._closing:
            self._drain = self._later(slow, self._too_slow)
        super().pauseProducing()  # type: ignore[no-untyped-call]

    def resumeProducing(self) -> None:
        self._transport_full = False
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
        super().resumeProducing()  # type: ignore[no-untyped-call]
        held, self._held = self._held, None
        if held is not None and not self._closing:
            self._next_request(held)

    def _too_slow(self) -> None:
        self._drain = None
        self.counters.slow_closed += 1
        self._closing = True
        self.transport.abortConnection()

    def _start_deadline(self) -> None:
        self._cancel_deadline()
        self._request_started = False
        self._head_bytes = self._head_lines = 0
        self._target = None
        self._deadline = self._later(self.site.settings.request_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._deadline = None
        if not self._request_started:  # an idle connection: nobody is waiting for an answer
            self._closing = True
            self.loseConnection()  # type: ignore[no-untyped-call]
            return
        self.counters.http_timed_out += 1
        seconds = number(self.site.settings.request_timeout)
        self._refuse(408, "timeout", f"the request did not arrive within {seconds} s")

    # --- ending ---------------------------------------------------------------------------------

    def _refuse(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        """Answer with an error and end the connection (with a lingering close)."""
        if self._closing:
            return
        self._closing = True
        self._cancel_deadline()
        transport = self.transport
        transport.write(answer(status, code, message, wants_json(self._target), retry_after))
        half_close = getattr(transport, "loseWriteConnection", None)
        if half_close is None:
            self.loseConnection()  # type: ignore[no-untyped-call]
            return
        half_close()  # FIN after the answer; input is still read, and dropped
        resume = getattr(transport, "resumeProducing", None)
        if resume is not None:
            resume()  # reading may have been paused while a request was handled
        self._linger = self._later(self.site.settings.linger, self._end_linger)

    def _end_linger(self) -> None:
        # Nothing unread now (it was read and dropped), so closing sends no reset and an
        # answer the client has not read yet stays readable; a close that cannot finish
        # (the answer never taken) is aborted.
        self._linger = None
        self.loseConnection()  # type: ignore[no-untyped-call]
        self._linger = self._later(self.site.settings.linger, self.transport.abortConnection)

    def upgrade(self) -> Admission | None:
        """The connection is becoming a WebSocket (`web.WebSocketUpgrade`): the channel's
        timers stop, and its admission is handed on."""
        self._upgraded = True
        self._cancel_deadline()
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
        return self.admission

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_deadline()
        self._cancel_linger()
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
        self._held = None
        if self.admission is not None:
            self.admission.release()
        super().connectionLost(reason)  # type: ignore[no-untyped-call]

    def _later(self, delay: float, call: Callable[[], object]) -> IDelayedCall:
        """A timer on the Site's reactor (the Site sets each channel's `callLater` to it)."""
        timer: IDelayedCall = self.callLater(delay, call)  # type: ignore[no-untyped-call]
        return timer

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _cancel_linger(self) -> None:
        if self._linger is not None:
            if self._linger.active():
                self._linger.cancel()
            self._linger = None

"""The web port's requests and Site: the request half of the HTTP channel's limits.

Rules (the channel's are in httpchannel.py):
- A body is kept in memory, never spooled to a temporary file, and refused (413) as soon as it
  passes `--max-body-bytes`.
- A request for a name the server does not serve is 421; an HTTP/1.1 request without `Host` is
  400 (`origins.host_served`: DNS rebinding reaches nothing).
- A failure inside the server is a 500 without a traceback (the traceback goes to the log);
  under `/api` it is JSON.
- The Site builds `HttpChannel`s for one hub, counts each finished request (`count`, for
  /metrics) and keeps no access log.
"""

import io
import socket
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

from chathub.config import HttpSettings
from chathub.errors import shown
from chathub.httpchannel import REASONS, HttpChannel, descriptor_limit, error_body, wants_json
from chathub.hub import Hub
from chathub.origins import host_served

log = Logger()


class HttpRequest(Request):
    """A request of the web port: its body in memory and bounded, its Host checked, its
    errors worded for a person or, under `/api`, as JSON."""

    channel: HttpChannel

    def __init__(self, channel: HttpChannel, queued: Any = None) -> None:
        super().__init__(channel, queued)  # type: ignore[no-untyped-call]
        self.body_received = 0

    def gotLength(self, length: int | None) -> None:
        self.content = io.BytesIO()  # never a temporary file, whatever the length

    def handleContentChunk(self, data: bytes) -> None:
        channel = self.channel
        if channel.closing:
            return
        self.body_received += len(data)
        if self.body_received > channel.site.settings.max_body_bytes:
            channel.body_too_large()
            return
        assert self.content is not None
        self.content.write(data)

    def render(self, resrc: IResource) -> None:
        problem = self._host_problem()
        if problem is None:
            super().render(resrc)  # type: ignore[no-untyped-call]
            return
        status, code, message = problem
        if status == 421:
            self.channel.counters.http_wrong_host += 1
        else:
            self.channel.counters.http_bad_request += 1
        self.send_error(status, code, message)

    def _host_problem(self) -> tuple[int, str, str] | None:
        hosts = self.requestHeaders.getRawHeaders(b"host")
        if not hosts:
            if self.clientproto == b"HTTP/1.1":
                return 400, "bad-request", "an HTTP/1.1 request must name its Host"
            return None
        if len(hosts) > 1:
            return 400, "bad-request", "a request names one Host"
        host = hosts[0].decode("latin-1")
        if host_served(host, self.channel.site.hosts):
            return None
        return (
            421,
            "wrong-host",
            f"this server does not answer to the name {shown(host)}; if the name is the "
            "server's, its operator can allow it with --allow-host",
        )

    def send_error(self, status: int, code: str, message: str) -> None:
        """Answer this request with an error (JSON under /api) and finish it."""
        content_type, body = error_body(code, message, wants_json(self.path))
        request: Any = self  # twisted.web's Request is not annotated
        request.setResponseCode(status, REASONS.get(status))  # Twisted's table lacks 421
        request.setHeader(b"content-type", content_type)
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"content-length", b"%d" % len(body))
        request.write(body)
        request.finish()

    def processingFailed(self, reason: Failure) -> Failure:
        log.failure("could not answer {uri}", reason, uri=self.uri[:200].decode("latin-1"))
        self.send_error(
            500, "internal", "the server could not answer this request; the error is in its log"
        )
        return reason


class HttpSite(Site):
    """The web port's `Site`: `HttpChannel`s with their limits, for one hub."""

    protocol = HttpChannel  # type: ignore[assignment]  # Twisted's is a proxy factory

    def __init__(
        self,
        root: IResource,
        hub: Hub,
        settings: HttpSettings = HttpSettings(),
        reactor: Any = None,
        slow_timeout: float = 0.0,
    ) -> None:
        # No Twisted idle timeout: --request-timeout and --slow-timeout cover every wait.
        super().__init__(root, HttpRequest, timeout=None, reactor=reactor)  # type: ignore[no-untyped-call]
        self.hub = hub
        self.settings = settings
        self.slow_timeout = slow_timeout
        self.displayTracebacks = False  # a traceback is for the log, never for a visitor
        self.noisy = False  # no log line each time it starts listening
        # Told of each finished request (/metrics); there is no access log: a line per request
        # would carry its query, and a busy port would flood the log.
        self.count: Callable[[http.Request], None] | None = None
        # The machine's own name is served too: no attacker can rebind it to us.
        self.hosts = (*settings.allow_host, socket.gethostname().lower())
        limit = descriptor_limit()
        self.descriptor_line = None if limit is None else limit - settings.fd_reserve
        if self.descriptor_line is not None and self.descriptor_line < 64:
            log.warn(
                "the descriptor limit (ulimit -n) is {limit}: with --fd-reserve {reserve}, "
                "{left} remain for HTTP connections",
                limit=limit,
                reserve=settings.fd_reserve,
                left=max(0, self.descriptor_line),
            )

    def log(self, request: http.Request) -> None:
        if self.count is not None:
            self.count(request)

"""The admin port (`--admin`, default loopback 9180): `/metrics`, `/livez`, `/readyz`.

Rules:
- Apart from the public web port, so that metrics and probes are not exposed to clients: its
  default listens on loopback only, and `--admin none` turns it off.
- `/livez` is 200 while the reactor turns (the lag monitor ran lately), else 503: a process
  stuck in a loop is restarted by whoever probes it.
- `/readyz` is 200 when every listener is up, the store writes and the backplane (if any) is
  reachable; 503 at once when draining (SIGTERM) or when one of those fails, with the reasons
  as JSON, so a load balancer stops sending clients before they are closed.
- `/metrics` is Prometheus text (`metrics.py`).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from chathub.metrics import Metrics

PROMETHEUS_TEXT = b"text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Readiness:
    """What `/readyz` and `/livez` answer from; the service keeps it up to date."""

    listening: bool = False
    draining: bool = False
    store_ok: Callable[[], bool] = lambda: True
    backplane_ok: Callable[[], bool] = lambda: True
    last_tick: Callable[[], float] = lambda: 0.0  # when the reactor last ran the lag check
    now: Callable[[], float] = lambda: 0.0

    def problems(self) -> list[str]:
        problems = []
        if not self.listening:
            problems.append("not listening yet")
        if self.draining:
            problems.append("draining: shutting down")
        if not self.store_ok():
            problems.append("history cannot be written")
        if not self.backplane_ok():
            problems.append("the backplane is unreachable")
        return problems

    def alive(self) -> bool:
        return self.now() - self.last_tick() < LIVE_SECONDS


# The reactor is alive while its lag check (every `LAG_SECONDS`) ran within this long.
LIVE_SECONDS = 10.0
LAG_SECONDS = 0.5


def _json(request: Request, code: int, body: object) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(body, separators=(",", ":")).encode()


class NotFoundResource(Resource):
    isLeaf = True

    def render(self, request: Request) -> bytes:
        return _json(request, 404, {"error": "not-found", "message": "/metrics, /livez, /readyz"})


class AdminPage(Resource):
    """One of the three paths, exactly: anything under it (`/metrics/x`) is a JSON 404 too."""

    def getChild(self, path: bytes, request: Request) -> Resource:
        return NotFoundResource()  # type: ignore[no-untyped-call]


class MetricsResource(AdminPage):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", PROMETHEUS_TEXT)
        request.setHeader(b"cache-control", b"no-store")
        return self.metrics.text()


class ReadyResource(AdminPage):
    def __init__(self, readiness: Readiness) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.readiness = readiness

    def render_GET(self, request: Request) -> bytes:
        problems = self.readiness.problems()
        if problems:
            return _json(request, 503, {"status": "not ready", "problems": problems})
        return _json(request, 200, {"status": "ready"})


class LiveResource(AdminPage):
    def __init__(self, readiness: Readiness) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.readiness = readiness

    def render_GET(self, request: Request) -> bytes:
        if self.readiness.alive():
            return _json(request, 200, {"status": "alive"})
        return _json(request, 503, {"status": "stalled"})


class AdminRoot(Resource):
    """The three paths; anything else is a JSON 404."""

    def getChild(self, path: bytes, request: Request) -> Resource:
        return NotFoundResource()  # type: ignore[no-untyped-call]


def make_admin_site(metrics: Metrics, readiness: Readiness) -> Site:
    root = AdminRoot()  # type: ignore[no-untyped-call]
    root.putChild(b"metrics", MetricsResource(metrics))
    root.putChild(b"readyz", ReadyResource(readiness))
    root.putChild(b"livez", LiveResource(readiness))
    # `chathub_ready` says what `/readyz` says, read when scraped.
    metrics.up.set_function(lambda: 0.0 if readiness.problems() else 1.0)
    site = Site(root)
    site.displayTracebacks = False
    site.noisy = False
    return site

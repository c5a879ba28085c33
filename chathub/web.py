"""The HTTP adapter: one twisted.web Site for the page, the API, the counter and `/ws`.

Rules:
- Thin: resources read from the hub and render; they decide nothing.
- Plain text and JSON answers set their Content-Type and charset explicitly.
- The Site is `httpsite.HttpSite`: every connection is admitted, bounded and timed there.
  `/ws` is `WebSocketUpgrade`, which hands the connection's admission to the WebSocket.
- Every `/api` error is JSON, whatever the method or path: `/api` is mounted inside
  `JsonErrors`, which answers a method the API does not take with a JSON 405 and `Allow`.
"""

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from autobahn.twisted.resource import WebSocketResource
from twisted.web import http
from twisted.web.error import UnsupportedMethod
from twisted.web.resource import Resource
from twisted.web.server import Request

from chathub.api import ApiResource
from chathub.config import HttpSettings
from chathub.httpchannel import HttpChannel
from chathub.httpsite import HttpSite
from chathub.hub import Hub
from chathub.page import (
    NotFoundResource,
    PageResource,
    RoomResource,
    StaticResource,
    asset_dir,
    make_environment,
)
from chathub.respond import Reply, answer, send_error
from chathub.websocket import WebSocketFactory


def _send_json(request: Request, body: Any, code: int = 200) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


class CounterResource(Resource):
    """`GET /counter`: `I am request #N`, N counting requests to this path (kept by the store)."""

    isLeaf = True

    def __init__(self, hub: Hub) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hub = hub

    def render_GET(self, request: Request) -> bytes | int:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")

        def start(reply: Reply) -> None:
            def counted(number: int | None) -> None:
                if number is None:  # a shared counter that cannot be reached
                    request.setResponseCode(503)
                    request.setHeader(b"retry-after", b"1")
                    reply(b"the request counter cannot be reached; try again")
                else:
                    reply(f"I am request #{number}".encode())

            self.hub.store.count("counter", counted)

        return answer(request, start)


class HealthResource(Resource):
    """`GET /healthz`: a small JSON status; 503 (and `failing`) while history cannot be written."""

    isLeaf = True

    def __init__(self, hub: Hub) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hub = hub

    def render_GET(self, request: Request) -> bytes:
        store = self.hub.store.health()
        status = {
            "status": "ok" if store.ok else "failing",
            "clients": len(self.hub.sessions),
            "rooms": len(self.hub.members),
            "store": {"ok": store.ok, "pending": store.pending, "error": store.error},
            "limits": asdict(self.hub.counters),  # how often each limit refused or cut something
        }
        return _send_json(request, status, 200 if store.ok else 503)


# The order methods are listed in, in `Allow`.
_METHODS = {b"GET": 0, b"HEAD": 1, b"POST": 2, b"PUT": 3, b"PATCH": 4, b"DELETE": 5}


class JsonErrors(Resource):
    """A leaf resource (the API) whose refusal of a method is a JSON 405 with `Allow`."""

    isLeaf = True

    def __init__(self, inner: Resource) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.inner = inner

    def render(self, request: Request) -> Any:
        try:
            return self.inner.render(request)
        except UnsupportedMethod as unsupported:
            allowed = set(unsupported.allowedMethods)
            if request.method == b"HEAD" and b"GET" in allowed:
                raise  # twisted.web answers HEAD as GET without the body
            if b"GET" in allowed:
                allowed.add(b"HEAD")
            allowed_list = sorted(allowed, key=lambda name: (_METHODS.get(name, 99), name))
            request.setHeader(b"allow", b", ".join(allowed_list))
            method = request.method.decode("latin-1")[:16]
            names = ", ".join(name.decode() for name in allowed_list)
            return send_error(
                request, 405, "method-not-allowed", f"{method} is not allowed here; use {names}"
            )


class WebSocketUpgrade(WebSocketResource):
    """`/ws`: Autobahn's resource, which hands the HTTP connection's admission to the
    WebSocket connection it becomes, so that one connection takes one place."""

    def __init__(self, factory: WebSocketFactory) -> None:
        super().__init__(factory)  # type: ignore[no-untyped-call]
        self.websocket = factory

    def render(self, request: Request) -> Any:
        channel = request.channel
        if isinstance(channel, HttpChannel):
            # Autobahn builds the connection inside render; the factory gives it this.
            self.websocket.handover = channel.upgrade()
        try:
            return super().render(request)  # type: ignore[no-untyped-call]
        finally:
            self.websocket.handover = None


class SiteRoot(Resource):
    """The top of the web port's tree: what it has no child for is `missing` (the styled 404
    page), not twisted.web's bare one."""

    def __init__(self, missing: Resource) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.missing = missing

    def getChild(self, path: bytes, request: Request) -> Resource:
        return self.missing


def make_root(
    hub: Hub, websocket: WebSocketFactory | None = None, api: ApiResource | None = None
) -> Resource:
    """The resource tree of the web port; `/ws` is mounted when a WebSocket factory is given."""
    pages = make_environment()
    missing = NotFoundResource(pages)
    root = SiteRoot(missing)
    root.putChild(b"counter", CounterResource(hub))
    root.putChild(b"healthz", HealthResource(hub))
    root.putChild(b"api", JsonErrors(api or ApiResource(hub)))
    root.putChild(b"", PageResource(hub, pages))
    root.putChild(b"rooms", RoomResource(hub, pages))
    static = StaticResource(str(asset_dir("static")))
    static.childNotFound = missing
    root.putChild(b"static", static)
    if websocket is not None:
        root.putChild(b"ws", WebSocketUpgrade(websocket))
    return root


def make_site(
    hub: Hub,
    websocket: WebSocketFactory | None = None,
    settings: HttpSettings = HttpSettings(),
    reactor: Any = None,
    slow_timeout: float = 0.0,
    count: Callable[[http.Request], None] | None = None,
    api: ApiResource | None = None,
) -> HttpSite:
    """The web port's Site: the tree of `make_root` behind the HTTP channel's limits; each
    finished request is counted (`count`, for /metrics), not logged."""
    site = HttpSite(make_root(hub, websocket, api), hub, settings, reactor, slow_timeout)
    site.count = count
    return site

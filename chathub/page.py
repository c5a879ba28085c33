"""The chat page, the server-rendered room pages, and the page's static files.

Rules:
- Jinja2 with `autoescape=select_autoescape()`: every `.html` template escapes what it prints, so
  user text is never markup. Every HTML answer also sends a Content-Security-Policy that allows
  no inline script, so even a template mistake cannot run a user's `<script>`.
- Templates and static files ship in the wheel as `chathub/templates` and `chathub/static` and
  are found with `importlib.resources`, falling back to the checkout's top-level folders.
- Pages read the hub and render; they change nothing. A malformed room name is a 400 page, and
  any address with nothing at it a styled 404 (`NotFoundResource`), static files included.
- A private room (secret, invite-only, closed) is, for a reader who may not see it (`access.py`;
  the reader is its log-in cookie, `httpauth.py`), a room that does not exist: not listed, its
  transcript empty, with nobody in it.
- Static files: no directory listings and no dotfiles (404), a Cache-Control header, and URLs
  that carry a hash of the content (`?v=`) so a changed file is fetched at once; the script's
  modules under `static/js/`, imported without a hash, are revalidated on every load instead.
  Only files inside the static directory are served: a symlink leading out of it, or a name
  with a NUL byte, is 404.
"""

import hashlib
import importlib.resources
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request
from twisted.web.static import File

from chathub import __version__
from chathub.access import can_see
from chathub.broker import Listing
from chathub.events import Event
from chathub.httpauth import viewer_of
from chathub.hub import Hub
from chathub.respond import Reply, answer
from chathub.text import DEFAULT_ROOM, normalize_room

# How many recent messages the server-rendered room page shows.
ROOM_PAGE_MESSAGES = 100

# The page's script and styles come from this origin only; `connect-src 'self'` covers the
# same-origin ws:// and wss:// of /ws.
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# A day: the page asks for `?v=HASH` URLs, so a changed file is a new URL anyway.
STATIC_CACHE_CONTROL = b"public, max-age=86400"

# The script's modules (static/js/) are imported by plain names, without `?v=`: the browser
# revalidates them every time (a 304 while unchanged), so it never runs an old module beside
# a new chat.js.
MODULE_DIR = "js"
MODULE_CACHE_CONTROL = b"no-cache"


def asset_dir(name: str) -> Path:
    """The directory `templates` or `static`: inside the installed package, else the checkout."""
    packaged = importlib.resources.files("chathub") / name
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def clock_time(ts: float) -> str:
    """`HH:MM:SS` in UTC, for a transcript line."""
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def iso_time(ts: float) -> str:
    """The full UTC time, for a `<time datetime>` attribute and its title."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def make_environment(templates: Path | None = None, static: Path | None = None) -> Environment:
    """The Jinja2 environment of the web pages, with autoescape on and `static_url()`."""
    environment = Environment(
        loader=FileSystemLoader(str(templates or asset_dir("templates"))),
        autoescape=select_autoescape(),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    static_dir = static or asset_dir("static")
    hashes: dict[str, str] = {}

    def static_url(name: str) -> str:
        # Hashed once per process: a release changes files, a running server does not.
        if name not in hashes:
            digest = hashlib.sha256((static_dir / name).read_bytes()).hexdigest()
            hashes[name] = digest[:12]
        return f"/static/{name}?v={hashes[name]}"

    environment.globals["static_url"] = static_url
    environment.globals["version"] = __version__
    environment.filters["clock"] = clock_time
    environment.filters["isotime"] = iso_time
    return environment


def render_html(
    request: Request, environment: Environment, template: str, code: int = 200, **context: Any
) -> bytes:
    """Render `template` as the answer to `request`, with the headers every page sends."""
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"cache-control", b"no-cache")
    request.setHeader(b"content-security-policy", CONTENT_SECURITY_POLICY)
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"referrer-policy", b"no-referrer")
    return environment.get_template(template).render(**context).encode("utf-8")


class PageResource(Resource):
    """`GET /`: the chat page. The script does the talking; the HTML works as a room index."""

    isLeaf = True

    def __init__(self, hub: Hub, environment: Environment) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hub = hub
        self.environment = environment

    def render_GET(self, request: Request) -> bytes | int:
        def start(reply: Reply) -> None:
            def listed(listing: Listing | None) -> None:
                rooms, total = listing if listing is not None else ([], 0)
                page = render_html(
                    request, self.environment, "page.html", rooms=rooms, total=total,
                    default_room=DEFAULT_ROOM,
                )  # fmt: skip
                reply(page)

            self.hub.list_rooms(None, listed, viewer_of(request, self.hub))

        return answer(request, start)


class RoomResource(Resource):
    """`GET /rooms/ROOM`: a room's members and recent messages; `GET /rooms/`: every room."""

    isLeaf = True

    def __init__(
        self, hub: Hub, environment: Environment, messages: int = ROOM_PAGE_MESSAGES
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hub = hub
        self.environment = environment
        self.messages = messages

    def render_GET(self, request: Request) -> bytes | int:
        path = [segment for segment in request.postpath or () if segment]
        viewer = viewer_of(request, self.hub)
        if not path:

            def start_index(reply: Reply) -> None:
                def listed(listing: Listing | None) -> None:
                    rooms, total = listing if listing is not None else ([], 0)
                    reply(
                        render_html(
                            request, self.environment, "rooms.html", rooms=rooms, total=total
                        )
                    )

                self.hub.list_rooms(None, listed, viewer)

            return answer(request, start_index)
        if len(path) > 1:
            return self._error(request, 404, "Not found", "There is no such page.")
        try:
            asked = path[0].decode("utf-8")
        except UnicodeDecodeError:
            asked = path[0].decode("utf-8", "replace")
            room = None
        else:
            room = normalize_room(asked)
        if room is None:
            return self._error(
                request,
                400,
                "Not a room name",
                f"{asked[:64]!r} is not a valid room name: 1 to 32 of a-z, 0-9, _ and -, "
                "optionally after #.",
            )
        visible = can_see(self.hub, room, viewer)
        name = room

        def start(reply: Reply) -> None:
            def members_read(members: list[str] | None) -> None:
                def events_read(events: list[Event]) -> None:
                    page = render_html(
                        request, self.environment, "room.html", room=name,
                        members=(members or []) if visible else [],
                        events=events if visible else [],
                    )  # fmt: skip
                    reply(page)

                self.hub.history(name, None, self.messages, events_read)

            self.hub.room_members(name, members_read)

        return answer(request, start)

    def _error(self, request: Request, code: int, title: str, message: str) -> bytes:
        return render_html(
            request, self.environment, "error.html", code, title=title, message=message
        )


class NotFoundResource(Resource):
    """The site's own 404: the styled error page, whatever the method or the rest of the path
    (twisted.web's own is a bare "No Such Resource")."""

    isLeaf = True

    def __init__(self, environment: Environment) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.environment = environment

    def render(self, request: Request) -> bytes:
        return render_html(
            request,
            self.environment,
            "error.html",
            404,
            title="Not found",
            message="There is nothing at this address.",
        )


class StaticResource(File):
    """The page's assets: a `File` that never lists a directory or serves a dotfile, nor
    anything outside its directory."""

    indexNames: list[str] = []  # File would serve index.html for a directory: never here
    childNotFound: Any = notFound("Not found", "There is no such file.")
    contentTypes = {
        **File.contentTypes,
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
    }

    def __init__(self, path: str, *args: Any) -> None:
        super().__init__(path, *args)
        self.root = os.path.realpath(path)  # what every file served must be inside

    def createSimilarFile(self, path: str) -> "StaticResource":
        similar: StaticResource = super().createSimilarFile(path)  # type: ignore[no-untyped-call]
        similar.root = self.root
        similar.childNotFound = self.childNotFound
        return similar

    def directoryListing(self) -> IResource:
        result: IResource = self.childNotFound
        return result

    def getChild(self, path: bytes, request: Request) -> IResource:
        # A NUL byte makes the operating system's calls raise (a 500), not say "no such file".
        if path.startswith(b".") or b"\x00" in path:
            return self.directoryListing()
        child: IResource = super().getChild(path, request)  # type: ignore[no-untyped-call]
        if isinstance(child, File):
            real = os.path.realpath(child.path)
            if real != self.root and not real.startswith(self.root + os.sep):
                return self.directoryListing()  # a symlink that leads out of the directory
        return child

    def render_GET(self, request: Request) -> Any:
        self.restat(False)
        if self.isdir():
            # `File` would redirect `/static` to `/static/` and then list it.
            return self.directoryListing().render(request)
        relative = os.path.relpath(os.path.realpath(self.path), self.root)
        module = relative.startswith(MODULE_DIR + os.sep)
        request.setHeader(
            b"cache-control", MODULE_CACHE_CONTROL if module else STATIC_CACHE_CONTROL
        )
        request.setHeader(b"x-content-type-options", b"nosniff")
        return super().render_GET(request)  # type: ignore[no-untyped-call]

    render_HEAD = render_GET

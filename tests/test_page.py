"""The chat page, the room pages and the static files, rendered over treq's in-memory HTTP."""

import importlib.resources
from pathlib import Path

import pytest
from treq.testing import StubTreq
from twisted.web.resource import Resource, getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from chathub import commands as cmd
from chathub.hub import Hub
from chathub.page import StaticResource, asset_dir, make_environment
from chathub.store import MemoryStore
from chathub.web import make_root
from tests.recording import RecordingClient

Response = tuple[int, dict[bytes, list[bytes]], bytes]


@pytest.fixture
def hub() -> Hub:
    return Hub(MemoryStore(), clock=lambda: 1_700_000_000.0)


@pytest.fixture
def http(hub: Hub) -> StubTreq:
    return StubTreq(make_root(hub))


def fetch(http: StubTreq, path: str, method: str = "GET") -> Response:
    """Request `path` and return (status, headers, body), all synchronously."""
    results = []
    deferred = http.request(method, "http://localhost" + path)
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    response, body = results[0]
    return response.code, dict(response.headers.getAllRawHeaders()), body


def say(hub: Hub, nick: str, text: str, room: str = "lobby") -> None:
    session = hub.connect(RecordingClient(), nick, rooms=[room])
    hub.handle(session, cmd.Say(text, room))


def test_templates_and_static_are_found_in_the_checkout():
    """Without an installed wheel, the checkout's templates/ and static/ are used."""
    assert (asset_dir("templates") / "page.html").is_file()
    assert (asset_dir("static") / "chat.js").is_file()


def test_environment_escapes_html_templates():
    """The Jinja2 environment autoescapes `.html` templates."""
    environment = make_environment()
    assert environment.autoescape("room.html") is True
    assert environment.from_string("{{ text }}").render(text="<b>") == "&lt;b&gt;"


def test_page_is_html_with_the_script_and_no_inline_script(http):
    """GET / is the chat page: UTF-8 HTML that loads chat.js and forbids inline scripts."""
    code, headers, body = fetch(http, "/")
    assert code == 200
    assert headers[b"Content-Type"] == [b"text/html; charset=utf-8"]
    assert b'src="/static/chat.js?v=' in body
    assert b"script-src 'self'" in headers[b"Content-Security-Policy"][0]
    assert b"<script>" not in body


def test_page_lists_rooms_with_member_counts(http, hub):
    """The page's room list (for browsers without script) names each room and its count."""
    hub.connect(RecordingClient(), "alice", rooms=["dev"])
    _, _, body = fetch(http, "/")
    assert b'href="/rooms/dev"' in body
    assert b'<span class="count" title="members">1</span>' in body


def test_room_page_shows_members_and_messages_with_ids(http, hub):
    """GET /rooms/ROOM lists the members and the recent messages with id, nick and time."""
    say(hub, "alice", "hello there", room="dev")
    hub.connect(RecordingClient(), "bob", rooms=["dev"])
    code, _, body = fetch(http, "/rooms/dev")
    assert code == 200
    text = body.decode()
    assert "<li>alice</li>" in text and "<li>bob</li>" in text
    assert 'id="m1"' in text and "hello there" in text
    assert '<time datetime="2023-11-14T22:13:20Z"' in text


def test_room_page_escapes_a_script_in_the_transcript(http, hub):
    """A message `<script>alert(1)</script>` is shown as escaped text, never as markup."""
    say(hub, "mallory", "<script>alert(1)</script>")
    _, _, body = fetch(http, "/rooms/lobby")
    assert b"<script>alert(1)</script>" not in body
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_room_page_escapes_markup_in_a_nick_free_text(http, hub):
    """Quotes and angle brackets in message text cannot break out of an attribute or tag."""
    say(hub, "mallory", '"><img src=x onerror=alert(1)>')
    _, _, body = fetch(http, "/rooms/lobby")
    assert b"<img" not in body
    assert b"&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in body


def test_room_page_normalizes_the_room_name(http, hub):
    """`/rooms/%23Dev` is the page of `dev`."""
    say(hub, "alice", "in dev", room="dev")
    code, _, body = fetch(http, "/rooms/%23Dev")
    assert code == 200
    assert b"<h1>#dev</h1>" in body and b"in dev" in body


def test_room_page_of_an_unknown_room_is_an_empty_transcript(http):
    """A valid name nobody used yet is a 200 page that says it has no messages."""
    code, _, body = fetch(http, "/rooms/quiet")
    assert code == 200
    assert b"No messages in #quiet yet." in body


@pytest.mark.parametrize("name", ["bad%20room", "x" * 33, "%3Cscript%3E", "%FF"])
def test_room_page_of_a_malformed_name_is_400(http, name):
    """A malformed room name answers a 400 HTML page that quotes it escaped."""
    code, headers, body = fetch(http, "/rooms/" + name)
    assert code == 400
    assert headers[b"Content-Type"] == [b"text/html; charset=utf-8"]
    assert b"Not a room name" in body
    assert b"<script>" not in body


def test_room_page_with_extra_path_is_404(http):
    """`/rooms/dev/more` is not a page."""
    assert fetch(http, "/rooms/dev/more")[0] == 404


def test_room_index_lists_rooms(http, hub):
    """GET /rooms/ links every room that has members or history."""
    say(hub, "alice", "hi", room="dev")
    code, _, body = fetch(http, "/rooms/")
    assert code == 200
    assert b'<a href="/rooms/dev">#dev</a>' in body


def test_pages_are_revalidated_not_cached(http):
    """HTML pages carry live content: caches must revalidate them."""
    for path in ("/", "/rooms/lobby", "/rooms/bad%20name"):
        assert fetch(http, path)[1][b"Cache-Control"] == [b"no-cache"]


def test_static_file_is_served_with_cache_headers(hub):
    """A static file comes whole with its type, a Cache-Control header and nosniff."""
    # A file body is a pull producer, which StubTreq's transport cannot drive without a
    # running reactor; DummyRequest pulls it synchronously.
    request = DummyRequest([b"static", b"chat.js"])
    resource = getChildForRequest(make_root(hub), request)
    assert resource.render(request) == NOT_DONE_YET and request.finished
    assert request.responseCode == 200
    headers = request.responseHeaders
    assert headers.getRawHeaders(b"content-type") == [b"text/javascript; charset=utf-8"]
    assert headers.getRawHeaders(b"cache-control") == [b"public, max-age=86400"]
    assert headers.getRawHeaders(b"x-content-type-options") == [b"nosniff"]
    assert b"".join(request.written) == (asset_dir("static") / "chat.js").read_bytes()


def test_static_url_carries_a_content_hash():
    """`static_url` adds a hash of the file, so a changed file gets a new URL."""
    url = make_environment().globals["static_url"]("chat.css")
    assert url.startswith("/static/chat.css?v=") and len(url) == len("/static/chat.css?v=") + 12


@pytest.fixture
def tree(tmp_path: Path) -> StubTreq:
    """A StaticResource over a folder with a file, a subfolder and a dotfile."""
    (tmp_path / "app.css").write_text("body {}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "index.html").write_text("<p>index</p>")
    (tmp_path / ".secret").write_text("key")
    root = Resource()
    root.putChild(b"static", StaticResource(str(tmp_path)))
    return StubTreq(root)


@pytest.mark.parametrize("path", ["/static", "/static/", "/static/sub", "/static/sub/"])
def test_static_never_lists_a_directory(tree, path):
    """A directory is a 404: no listing, no redirect, no index.html."""
    code, _, body = fetch(tree, path)
    assert code == 404
    assert b"app.css" not in body and b"index" not in body


def test_static_hides_dotfiles(tree):
    """A file whose name starts with a dot is a 404."""
    assert fetch(tree, "/static/.secret")[0] == 404


def test_static_refuses_to_leave_its_folder(tree):
    """`..` cannot reach outside the static folder."""
    assert fetch(tree, "/static/sub/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd")[0] == 404


def test_a_nul_byte_in_a_static_name_is_not_found(tree):
    """`chat.js%00.png` is 404, not a 500 from the operating system's refusal."""
    assert fetch(tree, "/static/app.css%00.png")[0] == 404


def test_a_symlink_out_of_the_static_folder_is_not_found(tree, tmp_path, tmp_path_factory):
    """A link in the folder (or a subfolder) to a file or folder outside it is 404; a link
    that stays inside is served."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("secret")
    static = tmp_path  # the tree's folder
    (static / "leak.txt").symlink_to(outside / "secret.txt")
    (static / "sub" / "leak.txt").symlink_to(outside / "secret.txt")
    (static / "away").symlink_to(outside)
    (static / "alias.css").symlink_to(static / "app.css")
    for path in ("/static/leak.txt", "/static/sub/leak.txt", "/static/away/secret.txt"):
        code, _, body = fetch(tree, path)
        assert code == 404 and b"secret" not in body, path
    request = DummyRequest([b"alias.css"])  # a file body needs DummyRequest (see above)
    resource = getChildForRequest(StaticResource(str(static)), request)
    assert resource.render(request) == NOT_DONE_YET
    assert b"".join(request.written) == b"body {}"


def test_static_head_has_headers_and_no_body(tree):
    """HEAD answers the same headers as GET, without the body."""
    code, headers, body = fetch(tree, "/static/app.css", method="HEAD")
    assert code == 200
    assert headers[b"Cache-Control"] == [b"public, max-age=86400"]
    assert body == b""


def test_packaged_assets_are_preferred_to_the_checkout(tmp_path, monkeypatch):
    """An installed wheel's chathub/static is used when it exists."""
    (tmp_path / "static").mkdir()
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    assert asset_dir("static") == tmp_path / "static"


@pytest.mark.parametrize("path", ["/nope", "/no/such/page", "/static/missing.js", "/favicon.ico"])
def test_a_missing_page_is_a_styled_html_404(http, path):
    """Any unknown address on the web port is the site's own 404 page (its stylesheet, a
    way back), not twisted.web's bare "No Such Resource"."""
    code, headers, body = fetch(http, path)
    assert code == 404
    assert headers[b"Content-Type"] == [b"text/html; charset=utf-8"]
    assert b"No Such Resource" not in body
    assert b'rel="stylesheet"' in body and b"Not found" in body and b'href="/"' in body


def test_a_missing_api_path_stays_a_json_404(http):
    """Under /api a 404 is JSON, as every /api error is."""
    code, headers, body = fetch(http, "/api/nope")
    assert code == 404
    assert headers[b"Content-Type"] == [b"application/json; charset=utf-8"]
    assert body.startswith(b'{"error":"not-found"')

"""The chat page's features, each in Chromium at a desktop size (1280x800) and a phone size
(390x844), against the real process and real telnet users. Screenshots go to
tests/e2e/artifacts/page-FEATURE-SIZE.png."""

import json
import re
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chathub.tokens import hash_secret
from tests.e2e.conftest import HubProcess, TelnetClient, start_hub
from tests.e2e.test_browser import WAIT_MS, ChatPage, browser, expect, open_chat, shot

__all__ = ["browser"]  # the module's Chromium, shared with test_browser.py

SIZES = ["desktop", "phone"]


@pytest.fixture(params=SIZES)
def size(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def chat(browser, hub: HubProcess, size: str) -> Iterator[ChatPage]:
    """The page at `size`, connected, as a browser that has been here before."""
    page = open_chat(browser, hub.base_url + "/", size)
    yield page
    page.page.context.close()
    assert page.errors == [], "the page threw script errors"


def wait_until(chat: ChatPage, expression: str, timeout: float = WAIT_MS / 1000) -> None:
    """Poll `expression` (a function's source) in the page until it is true: the page's
    Content-Security-Policy forbids the eval that `wait_for_function` uses."""
    deadline = time.monotonic() + timeout
    while not chat.page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {expression}")
        chat.page.wait_for_timeout(50)


def say_one_by_one(client: TelnetClient, room: str, nick: str, texts: list[str]) -> None:
    """Telnet lines one at a time: lines that arrive together are one pasted message."""
    for text in texts:
        client.send(text)
        client.expect(f"[{room}] <{nick}> {text}")


def test_links_are_clickable_for_http_and_https_only(chat: ChatPage, connect, size: str):
    """http and https addresses in a message are links that open safely; other schemes and
    markup stay text."""
    bob: TelnetClient = connect("bob")
    text = (
        "docs at https://example.com/guide?x=1. and (see http://example.org/a_(b)) "
        "but not javascript:alert(1) nor <a href=x>html</a>"
    )
    bob.send(text)
    line = chat.messages("lobby", text)
    expect(line).to_have_count(1, timeout=WAIT_MS)
    links = line.locator(".text a")
    expect(links).to_have_count(2)
    assert [links.nth(n).get_attribute("href") for n in range(2)] == [
        "https://example.com/guide?x=1",
        "http://example.org/a_(b)",
    ]
    for n in range(2):
        assert links.nth(n).get_attribute("rel") == "noopener noreferrer nofollow"
        assert links.nth(n).get_attribute("target") == "_blank"
    assert line.locator(".text").text_content() == text
    assert chat.page.locator('#log a[href^="javascript"]').count() == 0
    shot(chat, f"page-links-{size}.png")


def test_mentions_of_my_nick_are_highlighted(chat: ChatPage, connect, size: str):
    """A message naming my nick as a word is highlighted, the nick marked; a word that only
    contains it, or my own message, is not."""
    bob: TelnetClient = connect("bob")
    chat.set_nick("alice")
    say_one_by_one(bob, "lobby", "bob", ["alice: the build is red", "malice aforethought"])
    chat.type("I am alice")
    mention = chat.messages("lobby", "alice: the build is red")
    expect(mention).to_have_class(re.compile(r"\bmention\b"), timeout=WAIT_MS)
    expect(mention.locator("mark.mention-nick")).to_have_text("alice")
    expect(chat.messages("lobby", "malice aforethought")).not_to_have_class(re.compile("mention"))
    expect(chat.messages("lobby", "I am alice")).not_to_have_class(re.compile("mention"))
    shot(chat, f"page-mentions-{size}.png")


# Records the notifications the page shows, and still shows them.
RECORD_NOTIFICATIONS = """
(() => {
  window.shownNotes = [];
  const Real = window.Notification;
  if (!Real) return;
  window.Notification = class extends Real {
    constructor(title, options) {
      window.shownNotes.push({ title, body: options && options.body });
      super(title, options);
    }
  };
})();
"""


def test_desktop_notifications_for_mentions_and_private_messages(
    browser, hub: HubProcess, connect, size: str
):
    """Once turned on (and allowed), a private message and a mention in a room not on screen
    notify; a mention in the room on screen does not."""
    chat = open_chat(
        browser,
        hub.base_url + "/",
        size,
        script=RECORD_NOTIFICATIONS,
        permissions=["notifications"],
    )
    bob: TelnetClient = connect("bob")
    chat.set_nick("alice")
    button = chat.page.locator("#notify-button")
    chat.page.locator("#settings-panel summary").click()
    expect(button).to_have_text("Desktop notifications: off")
    button.click()
    expect(button).to_have_text("Desktop notifications: on")
    expect(button).to_have_attribute("aria-pressed", "true")
    bob.send("/msg alice are you there?")
    notes = chat.page.locator("#log")  # only for waiting on the page
    wait_until(chat, "() => window.shownNotes.length === 1")
    assert chat.page.evaluate("window.shownNotes") == [
        {"title": "bob (private)", "body": "are you there?"}
    ]
    chat.type("/join dev")
    expect(chat.page.locator("#room-title")).to_have_text("#dev", timeout=WAIT_MS)
    chat.page.locator('#room-list button[data-room="lobby"]').click()
    bob.send("/join dev")
    bob.expect("[dev] -> bob joined")
    bob.send("alice: deploy now?")
    wait_until(chat, "() => window.shownNotes.length === 2")
    assert chat.page.evaluate("window.shownNotes[1]") == {
        "title": "bob in #dev",
        "body": "alice: deploy now?",
    }
    bob.send("/join lobby")
    bob.send("alice, on screen")
    expect(chat.messages("lobby", "alice, on screen")).to_have_count(1, timeout=WAIT_MS)
    assert chat.page.evaluate("window.shownNotes.length") == 2
    expect(notes).to_be_visible()
    shot(chat, f"page-notifications-{size}.png")
    chat.page.reload()
    chat.wait_connected("alice")
    expect(button).to_have_text("Desktop notifications: on")
    assert chat.errors == []
    chat.page.context.close()


def test_unread_marker_and_jump_to_latest(chat: ChatPage, connect, size: str):
    """Back in a room, a "new since you left" line sits above the first message not seen;
    scrolled up, a button jumps to the latest message."""
    bob: TelnetClient = connect("bob")
    say_one_by_one(bob, "lobby", "bob", ["seen already"])
    expect(chat.messages("lobby", "seen already")).to_have_count(1, timeout=WAIT_MS)
    chat.type("/join dev")
    expect(chat.page.locator("#room-title")).to_have_text("#dev", timeout=WAIT_MS)
    say_one_by_one(bob, "lobby", "bob", ["new 1", "new 2"])
    badge = chat.page.locator('#room-list button[data-room="lobby"] .badge')
    expect(badge).to_contain_text("2", timeout=WAIT_MS)
    chat.page.locator('#room-list button[data-room="lobby"]').click()
    marker = chat.page.locator('#log .lines[data-room="lobby"] > li.unread-marker')
    expect(marker).to_have_count(1)
    expect(marker).to_have_text("new since you left")
    following = marker.evaluate(
        "node => node.nextElementSibling.querySelector('.text').textContent"
    )
    assert following == "new 1"
    preceding = marker.evaluate(
        "node => node.previousElementSibling.querySelector('.text').textContent"
    )
    assert preceding == "seen already"
    shot(chat, f"page-unread-marker-{size}.png")

    bob.send("\r\n".join(f"a long paste, line {n}" for n in range(1, 41)))
    bob.expect("line 40")
    expect(chat.lines("lobby").filter(has_text="line 40")).to_have_count(1, timeout=WAIT_MS)
    jump = chat.page.locator("#jump-button")
    expect(jump).to_be_hidden()
    chat.page.locator("#log").evaluate(
        "log => { log.scrollTop = -log.scrollHeight; }"
    )  # to the top
    expect(jump).to_be_visible()
    bob.send("the latest")
    expect(chat.messages("lobby", "the latest")).to_have_count(1, timeout=WAIT_MS)
    expect(chat.messages("lobby", "the latest")).not_to_be_in_viewport()
    shot(chat, f"page-jump-{size}.png")
    jump.click()
    expect(jump).to_be_hidden()
    expect(chat.messages("lobby", "the latest")).to_be_in_viewport()


def test_day_separators_and_full_dates(browser, tmp_path: Path, size: str):
    """Messages of another day are under a separator naming that day; each time's title is
    the full date."""
    db = tmp_path / "days.db"
    hub = start_hub(tmp_path, db=str(db))
    bob = TelnetClient(hub.telnet)
    bob.expect("type /help")
    bob.send("/nick bob")
    bob.expect("is now known as bob")
    say_one_by_one(bob, "lobby", "bob", ["from two days ago"])
    bob.close()
    assert hub.stop() == 0
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE events SET ts = ts - 2 * 86400 WHERE text = 'from two days ago'")
    connection.close()  # chathub takes the file's exclusive lock
    hub = start_hub(tmp_path, db=str(db))
    try:
        chat = open_chat(browser, hub.base_url + "/", size)
        old = chat.messages("lobby", "from two days ago")
        expect(old).to_have_count(1, timeout=WAIT_MS)
        chat.type("from today")
        separators = chat.page.locator('#log .lines[data-room="lobby"] > li.day')
        expect(separators).to_have_count(2)
        then = time.localtime(time.time() - 2 * 86400)
        expect(separators.nth(0)).to_contain_text(str(then.tm_year))
        expect(separators.nth(0)).to_contain_text(time.strftime("%B", then))
        expect(separators.nth(1)).to_have_text("Today")
        above = old.evaluate("node => node.previousElementSibling.className")
        assert "day" in above
        title = old.locator("time").get_attribute("title") or ""
        assert str(then.tm_year) in title and "#1" in title
        expect(chat.messages("lobby", "from today").locator("time")).to_have_attribute(
            "title", re.compile(str(time.localtime().tm_year))
        )
        shot(chat, f"page-days-{size}.png")
        assert chat.errors == []
        chat.page.context.close()
    finally:
        hub.stop()


SCRIPT_SECRET = "chathub_e2e-publisher-secret"


def test_scrolling_up_loads_older_messages(browser, tmp_path: Path, size: str):
    """A room with 120 messages shows its last 10; scrolling up fetches the older ones page
    by page (`history` with `before`), in order, up to "the beginning"."""
    config = tmp_path / "chathub.toml"
    config.write_text(
        "[[tokens]]\n"
        f'name = "publisher"\nnick = "publisher"\nrooms = ["dev"]\nrate = 1000\n'
        f'hash = "{hash_secret(SCRIPT_SECRET)}"\n'
    )
    hub = start_hub(tmp_path, "--config", str(config), "--replay", "10", db=":memory:")
    try:
        for first in (1, 61):
            batch = [{"text": f"message {n}"} for n in range(first, first + 60)]
            request = urllib.request.Request(
                hub.base_url + "/api/rooms/dev/messages",
                data=json.dumps(batch).encode(),
                method="POST",
                headers={"Authorization": f"Bearer {SCRIPT_SECRET}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 201
        chat = open_chat(browser, hub.base_url + "/#dev", size)
        expect(chat.messages("dev", "message 120")).to_have_count(1, timeout=WAIT_MS)
        shown = chat.page.locator('#log .lines[data-room="dev"] > li[data-id]')
        log = chat.page.locator("#log")
        deadline = time.monotonic() + 30
        while shown.count() < 120 and time.monotonic() < deadline:
            before = shown.count()
            if log.evaluate("log => log.scrollHeight > log.clientHeight"):
                log.evaluate(
                    "log => { log.scrollTop = -log.scrollHeight; }"
                )  # the top, either way the log runs
            else:  # a log too short to scroll: the wheel still asks for more
                log.hover()
                chat.page.mouse.wheel(0, -600)
            wait_until(
                chat,
                "() => document.querySelectorAll('#log .lines[data-room=\"dev\"] > li[data-id]')"
                f".length > {before}",
            )
        ids = shown.evaluate_all("nodes => nodes.map(n => Number(n.dataset.id))")
        assert ids == list(range(1, 121))
        expect(chat.lines("dev").filter(has_text="the beginning of #dev")).to_have_count(1)
        # The lines being read stay in place: older ones went above them, out of view (the
        # distance from the top, whichever way the log is anchored).
        from_top = (
            "log => getComputedStyle(log).flexDirection === 'column-reverse' ? "
            "log.scrollHeight - log.clientHeight + log.scrollTop : log.scrollTop"
        )
        assert log.evaluate(from_top) > 0
        shot(chat, f"page-scrollback-{size}.png")
        assert chat.errors == []
        chat.page.context.close()
    finally:
        hub.stop()


def test_multi_line_messages(chat: ChatPage, connect, size: str):
    """Shift+Enter starts a new line and Enter sends; a pasted block is one message; both
    keep their lines, on the page and on telnet."""
    bob: TelnetClient = connect("bob")
    chat.set_nick("alice")
    box = chat.page.locator("#message-input")
    box.click()
    chat.page.keyboard.type("line one")
    chat.page.keyboard.press("Shift+Enter")
    chat.page.keyboard.type("line two")
    expect(box).to_have_value("line one\nline two")
    chat.page.keyboard.press("Enter")
    expect(box).to_have_value("", timeout=WAIT_MS)
    lines = bob.expect("line two")
    assert "[lobby] <alice> line one" in lines[-2]
    box.fill("pasted 1\npasted 2\npasted 3")
    box.press("Enter")
    bob.expect("pasted 3")
    texts = chat.page.locator('#log .lines[data-room="lobby"] > li.message .text')
    expect(texts).to_have_count(2, timeout=WAIT_MS)
    assert texts.all_text_contents() == ["line one\nline two", "pasted 1\npasted 2\npasted 3"]
    shot(chat, f"page-multiline-{size}.png")


def test_typing_indicator(browser, hub: HubProcess, size: str):
    """Typing in a room shows "bob is typing…" to the others for a few seconds; the page
    signals at most once every 3 s."""
    alice = open_chat(browser, hub.base_url + "/", size)
    bob = open_chat(browser, hub.base_url + "/", size)
    try:
        alice.set_nick("alice")
        bob.set_nick("bob")
        signals: list[str] = []
        bob.page.on(
            "websocket",
            lambda ws: ws.on(
                "framesent",
                lambda payload: signals.append(str(payload)) if "typing" in str(payload) else None,
            ),
        )
        bob.page.reload()  # so the recorder sees the page's socket from its start
        bob.wait_connected("bob")
        bob.page.locator("#message-input").click()
        started = time.monotonic()
        for letter in "hello there":
            bob.page.keyboard.type(letter)
            bob.page.wait_for_timeout(100)
        typed_for = time.monotonic() - started  # about 1 s, longer on a busy machine
        typing = alice.page.locator("#typing")
        expect(typing).to_have_text("bob is typing…", timeout=WAIT_MS)
        assert 1 <= len(signals) <= 1 + int(typed_for // 3), signals
        shot(alice, f"page-typing-{size}.png")
        expect(typing).to_have_text("", timeout=8_000)
        assert alice.errors == [] and bob.errors == []
    finally:
        alice.page.context.close()
        bob.page.context.close()


def test_presence_noise_is_collapsed_and_can_be_hidden(chat: ChatPage, connect, size: str):
    """Joins and leaves in a row are one line ("3 joined, 1 left") that unfolds; a setting
    hides them, and is remembered."""
    visitors = [connect() for _ in range(3)]
    visitors[0].send("/quit")
    group = chat.lines("lobby").filter(has_text="3 joined, 1 left")
    expect(group).to_have_count(1, timeout=WAIT_MS)
    items = group.locator(".presence-items li")
    expect(items).to_have_count(4)
    expect(items.first).to_be_hidden()
    group.locator("summary").click()
    expect(items.first).to_be_visible()
    shot(chat, f"page-presence-{size}.png")
    chat.page.locator("#settings-panel summary").click()
    chat.page.locator("#quiet-toggle").check()
    expect(group).to_be_hidden()
    chat.page.reload()
    chat.wait_connected()
    expect(chat.page.locator("#quiet-toggle")).to_be_checked()
    expect(chat.page.locator("#log li.presence").first).to_be_hidden()


def test_first_visit_asks_for_a_nick_and_a_guest_may_skip(browser, hub: HubProcess, size: str):
    """A first visit offers to pick a nick; once picked (or skipped) it is not asked again."""
    chat = open_chat(browser, hub.base_url + "/", size, visited=False)
    prompt = chat.page.locator("#welcome-form")
    expect(prompt).to_be_visible()
    shot(chat, f"page-first-visit-{size}.png")
    chat.page.fill("#welcome-nick", "zed")
    chat.page.press("#welcome-nick", "Enter")
    chat.wait_connected("zed")
    expect(prompt).to_be_hidden()
    chat.page.reload()
    chat.wait_connected("zed")
    expect(prompt).to_be_hidden()
    chat.page.context.close()

    guest = open_chat(browser, hub.base_url + "/", size, visited=False)
    guest.page.locator("#welcome-skip").click()
    expect(guest.page.locator("#welcome-form")).to_be_hidden()
    expect(guest.page.locator("#status")).to_contain_text("connected as guest-")
    guest.page.reload()
    guest.wait_connected()
    expect(guest.page.locator("#welcome-form")).to_be_hidden()
    assert chat.errors == [] and guest.errors == []
    guest.page.context.close()

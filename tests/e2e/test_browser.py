"""The chat page in Debian's Chromium (Playwright's sync API) against the real chathub process.

A browser user and telnet users share rooms: what one types, the other sees. Skipped when
chromium (or the playwright package) is missing, except under CI, where that is a failure.
Screenshots go to artifacts/ (gitignored); docs/screenshot.png is a copy of a good one.
"""

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import HubProcess, TelnetClient, ci

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None


def _missing(what: str) -> None:
    if ci():
        pytest.fail(f"{what} is missing, and CI must run the browser tests")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """One headless Chromium for the module; each test gets its own context."""
    executable = shutil.which("chromium")
    if sync_playwright is None:
        _missing("the playwright package")
    if executable is None:
        _missing("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class ChatPage:
    """The page as a user sees it, plus what went wrong in it (dialogs, script errors)."""

    def __init__(self, page: "Page") -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.wait_connected()

    def wait_connected(self, nick: str | None = None) -> None:
        status = self.page.locator("#status")
        expect(status).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
        if nick is not None:
            expect(status).to_contain_text(f"connected as {nick}", timeout=WAIT_MS)

    def set_nick(self, nick: str) -> None:
        self.page.fill("#nick-input", nick)
        self.page.press("#nick-input", "Enter")
        self.wait_connected(nick)

    def type(self, text: str) -> None:
        self.page.fill("#message-input", text)
        self.page.press("#message-input", "Enter")
        expect(self.page.locator("#message-input")).to_have_value("", timeout=WAIT_MS)

    def lines(self, room: str) -> "Locator":
        return self.page.locator(f'#log .lines[data-room="{room}"] > li')

    def messages(self, room: str, text: str) -> "Locator":
        """The message lines of `room` whose text is exactly `text`."""
        texts = self.page.locator(".text", has_text=re.compile("^" + re.escape(text) + "$"))
        return self.page.locator(f'#log .lines[data-room="{room}"] > li.message').filter(has=texts)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def chat(browser: "Browser", hub: HubProcess) -> Iterator[ChatPage]:
    """A fresh browser context on the chat page of the running hub, connected."""
    context = browser.new_context(viewport={"width": 1200, "height": 760})
    context.add_init_script("localStorage.setItem('chathub.visited', 'true')")  # no nick prompt
    page = ChatPage(context.new_page())
    page.open(hub.base_url + "/")
    yield page
    context.close()
    assert page.errors == [], "the page threw script errors"


def test_page_sets_a_nick_and_a_telnet_user_receives_its_message(chat, connect):
    """A nick set on the page and a message sent with Enter reach a telnet user in the room."""
    bob: TelnetClient = connect("bob")
    chat.set_nick("alice")
    bob.expect("is now known as alice")
    chat.type("hello from the browser")
    bob.expect("[lobby] <alice> hello from the browser")
    expect(chat.messages("lobby", "hello from the browser")).to_have_count(1)


def test_page_shows_a_message_sent_on_telnet(chat, connect):
    """A telnet user's message appears in the page's log with its nick."""
    bob: TelnetClient = connect("bob")
    expect(chat.page.locator("#member-list")).to_contain_text("bob", timeout=WAIT_MS)
    bob.send("hi from the terminal")
    line = chat.messages("lobby", "hi from the terminal")
    expect(line).to_have_count(1, timeout=WAIT_MS)
    expect(line.locator(".nick")).to_have_text("bob")


def test_page_shows_join_part_and_nick_notices_and_live_members(chat, connect):
    """Presence changes show as notices and keep the member list current."""
    members = chat.page.locator("#member-list")
    carol: TelnetClient = connect()
    carol.send("/nick carol")
    expect(members).to_contain_text("carol", timeout=WAIT_MS)
    lobby = chat.lines("lobby")
    expect(lobby.filter(has_text="is now known as carol")).to_have_count(1)
    carol.send("/part")
    expect(lobby.filter(has_text="carol left")).to_have_count(1, timeout=WAIT_MS)
    expect(members).not_to_contain_text("carol")


def test_page_switches_rooms_and_counts_unread(chat, connect):
    """Joining a room shows it; a message in a room not on screen is counted as unread."""
    dave: TelnetClient = connect("dave")
    dave.send("/join dev")
    dave.expect("[dev] -> dave joined")
    chat.page.fill("#join-input", "dev")
    chat.page.press("#join-input", "Enter")
    expect(chat.page.locator("#room-title")).to_have_text("#dev", timeout=WAIT_MS)
    dave.send("in dev")
    expect(chat.messages("dev", "in dev")).to_be_visible(timeout=WAIT_MS)

    chat.page.locator('#room-list button[data-room="lobby"]').click()
    expect(chat.page.locator("#room-title")).to_have_text("#lobby")
    expect(chat.lines("dev").first).to_be_hidden()
    dave.send("while you were away")
    badge = chat.page.locator('#room-list button[data-room="dev"] .badge')
    expect(badge).to_contain_text("1", timeout=WAIT_MS)
    chat.page.locator('#room-list button[data-room="dev"]').click()
    expect(chat.messages("dev", "while you were away")).to_be_visible()
    expect(badge).to_have_count(0)


def test_script_typed_on_telnet_is_shown_as_text_and_never_run(chat, connect):
    """`<script>alert(1)</script>` from telnet is shown literally; no script runs, no dialog."""
    mallory: TelnetClient = connect("mallory")
    payloads = ["<script>alert(1)</script>", '<img src=x onerror="alert(2)">']
    for payload in payloads:
        # One at a time: lines that arrive together are one pasted message of several lines.
        mallory.send(payload)
        mallory.expect(payload)  # each its own message, not a paste of two lines
    for payload in payloads:
        expect(chat.messages("lobby", payload)).to_have_count(1, timeout=WAIT_MS)
    assert chat.page.locator("#log script, #log img").count() == 0
    # Give a stray handler its chance to fire: a round trip through the hub and the page.
    mallory.send("after")
    expect(chat.messages("lobby", "after")).to_have_count(1, timeout=WAIT_MS)
    assert chat.dialogs == []


def test_slash_commands_work_as_on_telnet(chat, connect):
    """`/nick`, `/me`, `/who` and `/msg` typed on the page do what they do on telnet."""
    erin: TelnetClient = connect("erin")
    chat.type("/nick frank")
    chat.wait_connected("frank")
    chat.type("/me waves")
    erin.expect("[lobby] * frank waves")
    chat.type("/who")
    expect(chat.lines("lobby").filter(has_text="people in #lobby: erin, frank")).to_have_count(1)
    chat.type("/msg erin psst")
    erin.expect("[pm] <frank> psst")
    erin.send("/msg frank hi back")
    expect(chat.page.locator("#log li.pm").filter(has_text="hi back")).to_have_count(1)
    chat.page.locator('#convo-list button[data-convo="@erin"]').click()
    expect(chat.page.locator("#log li.pm").filter(has_text="hi back")).to_be_visible()


def test_reconnect_shows_exactly_the_missed_messages_once(chat, connect):
    """After a drop the page reconnects with its nick and shows each missed message once."""
    bob: TelnetClient = connect("bob")
    chat.set_nick("alice")
    bob.send("before the drop")
    expect(chat.messages("lobby", "before the drop")).to_have_count(1, timeout=WAIT_MS)

    chat.page.evaluate("window.chathub.socket.close()")
    expect(chat.page.locator("#status")).to_have_attribute("data-state", "offline")
    bob.expect("<- alice left")
    missed = [f"missed {n}" for n in range(1, 6)]
    for text in missed:
        bob.send(text)
        bob.expect(text)  # each its own message, not a paste of five lines

    chat.wait_connected("alice")
    bob.expect("-> alice joined")
    bob.send("after the drop")
    for text in ["before the drop", *missed, "after the drop"]:
        expect(chat.messages("lobby", text)).to_have_count(1, timeout=WAIT_MS)
    ids = chat.lines("lobby").evaluate_all(
        "nodes => nodes.filter(n => n.dataset.id).map(n => Number(n.dataset.id))"
    )
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 7


def test_page_screenshot_of_a_conversation(chat, connect):
    """A conversation of three people renders with members, notices and an unread badge."""
    bob: TelnetClient = connect("bob")
    carol: TelnetClient = connect("carol")
    chat.set_nick("alice")
    chat.page.fill("#join-input", "dev")
    chat.page.press("#join-input", "Enter")
    expect(chat.page.locator("#room-title")).to_have_text("#dev", timeout=WAIT_MS)
    chat.page.locator('#room-list button[data-room="lobby"]').click()
    bob.send("morning all! the deploy went out at 09:00")
    bob.expect("<bob> morning all!")  # before the next line, or the two are one pasted message
    chat.type("nice, any trouble with the migrations?")
    bob.send("none, it took 40 seconds")
    carol.send("/me is reading the release notes")
    carol.send("<script>alert('this is only text')</script>")
    carol.send("/join #dev")
    carol.send("review please: the websocket bridge")
    bob.send("/join ops")
    expect(chat.page.locator('#room-list button[data-room="dev"] .badge')).to_contain_text("1")
    expect(chat.page.locator("#member-list li")).to_have_count(3, timeout=WAIT_MS)
    expect(chat.messages("lobby", "none, it took 40 seconds")).to_have_count(1)
    path = chat.screenshot("screenshot.png")
    chat.page.set_viewport_size({"width": 390, "height": 760})
    phone = chat.screenshot("screenshot-phone.png")
    assert path.read_bytes()[:8] == phone.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chat.dialogs == []


def test_page_works_by_keyboard_alone(chat, connect):
    """Tab reaches the skip link, Enter sends, and Alt+Down moves to the next room."""
    gina: TelnetClient = connect("gina")
    page = chat.page
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#message-input")).to_be_focused()
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    gina.expect("typed without a mouse")
    page.keyboard.type("/join dev")
    page.keyboard.press("Enter")
    expect(page.locator("#room-title")).to_have_text("#dev", timeout=WAIT_MS)
    page.keyboard.press("Alt+ArrowDown")
    expect(page.locator("#room-title")).to_have_text("#lobby")
    expect(page.locator("#message-input")).to_be_focused()


def test_room_page_reads_without_javascript(browser, hub, connect):
    """With JavaScript off, /rooms/lobby shows the members and the messages as plain HTML."""
    henry: TelnetClient = connect("henry")
    henry.send("<b>not bold</b> and plain")
    henry.expect("[lobby] <henry> <b>not bold</b> and plain")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(hub.base_url + "/")
    expect(page.locator("noscript, .noscript").first).to_be_attached()
    page.goto(hub.base_url + "/rooms/lobby")
    expect(page.locator(".member-inline")).to_contain_text("henry")
    line = page.locator(".transcript li.message")
    expect(line).to_have_count(1)
    expect(line.locator(".text")).to_have_text("<b>not bold</b> and plain")
    assert page.locator(".transcript b").count() == 0
    context.close()


def test_private_message_text_has_the_width_of_the_line_on_a_phone(chat, connect):
    """At phone width a pm's text sits under its tag and nick, not squeezed into the time column."""
    ivan: TelnetClient = connect("ivan")
    chat.set_nick("alice")
    chat.page.set_viewport_size({"width": 390, "height": 844})
    ivan.send("/msg alice a private hello that should read as one line")
    chat.page.locator('#convo-list button[data-convo="@ivan"]').click()
    text = chat.page.locator("#log li.pm .text")
    expect(text).to_have_text("a private hello that should read as one line", timeout=WAIT_MS)
    tag = chat.page.locator("#log li.pm .tag").bounding_box()
    box = text.bounding_box()
    assert tag is not None and box is not None
    assert box["x"] >= tag["x"] and box["width"] > 200


def test_room_page_text_has_the_width_of_the_line_on_a_phone(browser, hub, connect):
    """At phone width /rooms/ROOM puts each message's text under its id, time and nick."""
    jane: TelnetClient = connect("jane")
    jane.send("a message long enough to need most of a phone's width")
    jane.expect("[lobby] <jane> a message long enough")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(hub.base_url + "/rooms/lobby")
    nick = page.locator(".transcript li.message .nick").bounding_box()
    text = page.locator(".transcript li.message .text").bounding_box()
    context.close()
    assert nick is not None and text is not None
    assert text["y"] > nick["y"] and text["width"] > 250


def test_a_command_typed_after_an_invisible_character_is_still_a_command(chat, connect):
    """A pasted zero-width space or BOM before `/msg erin ...` on the page: erin gets a private
    message and the room never sees the text, as on telnet."""
    erin: TelnetClient = connect("erin")
    carol: TelnetClient = connect("carol")
    chat.set_nick("frank")
    chat.type("\u200b/msg erin my password is hunter2")
    assert erin.expect("[pm]")[-1] == "[pm] <frank> my password is hunter2"
    chat.type("\ufeff /me waves")
    seen = carol.expect("[lobby] * frank waves")
    assert not [line for line in seen if "hunter2" in line]


# --- for the page tests in test_page_*.py -------------------------------------------------------

PAGE_ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # CI keeps this folder
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def open_chat(
    browser: "Browser",
    url: str,
    viewport: str = "desktop",
    visited: bool = True,
    script: str | None = None,
    **options: Any,
) -> ChatPage:
    """A new browser context on `url`, connected. `visited`: as a browser that has been here
    before (no first-visit nick prompt); `script` runs before the page's own. Close it with
    `chat.page.context.close()`."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], **options)  # type: ignore[arg-type]
    if visited:
        context.add_init_script("localStorage.setItem('chathub.visited', 'true')")
    if script is not None:
        context.add_init_script(script)
    chat = ChatPage(context.new_page())
    chat.open(url)
    return chat


def shot(chat: ChatPage, name: str) -> Path:
    """A screenshot under tests/e2e/artifacts/."""
    PAGE_ARTIFACTS.mkdir(exist_ok=True)
    path = PAGE_ARTIFACTS / name
    chat.page.screenshot(path=str(path))
    return path

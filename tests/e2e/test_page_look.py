"""How the chat page is laid out, measured in Chromium: a phone (390x844) and a desktop (1280x800).

Each test measures boxes with getBoundingClientRect (and elementFromPoint, for "can be seen":
inside the viewport, not clipped by a scroller, not covered). Skipped when chromium is missing,
except under CI. The screenshots of a conversation go to tests/e2e/artifacts/ (gitignored).
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import test_browser as shared
from tests.e2e.conftest import HubProcess, TelnetClient

with contextlib.suppress(ImportError):  # the test extra installs it; else test_browser skips
    from playwright.sync_api import expect

browser = shared.browser  # one headless Chromium for the module, as in test_browser.py
ChatPage = shared.ChatPage
WAIT_MS = shared.WAIT_MS
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LONG_NICK = "margaret_hamilton"  # 17 characters: a real name, not an edge case
ROOMS = ["dev", "operations", "random-things", "release-notes"]

# The box of every element that matches a selector, and whether its centre can be seen there.
BOXES = """(selector) => [...document.querySelectorAll(selector)].map((node) => {
    const box = node.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    return { x: box.x, y: box.y, width: box.width, height: box.height,
             bottom: box.bottom, right: box.right, seen: hit !== null && node.contains(hit) };
})"""

# The width of the nick's text and of the box that shows it.
NICK_WIDTHS = """() => {
    const box = document.getElementById('nick-input');
    return [box.scrollWidth, box.clientWidth];
}"""


@pytest.fixture
def open_chat(browser: Any, hub: HubProcess) -> Iterator[Callable[..., "shared.ChatPage"]]:
    """`open_chat(viewport)`: the chat page of the running hub in a context of that size."""
    contexts: list[Any] = []
    pages: list[shared.ChatPage] = []

    def opened(viewport: dict[str, int], **options: Any) -> shared.ChatPage:
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = ChatPage(context.new_page())
        page.open(hub.base_url + "/")
        pages.append(page)
        return page

    yield opened
    for context in contexts:
        context.close()
    for page in pages:
        assert page.errors == [], "the page threw script errors"


def boxes(chat: "shared.ChatPage", selector: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = chat.page.evaluate(BOXES, selector)
    return found


def box(chat: "shared.ChatPage", selector: str) -> dict[str, Any]:
    found = boxes(chat, selector)
    assert len(found) == 1, f"{selector} matched {len(found)} elements"
    return found[0]


def settle(chat: "shared.ChatPage") -> None:
    """Two animation frames: layout and scrolling are done."""
    chat.page.evaluate(
        "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )


def join(chat: "shared.ChatPage", room: str) -> None:
    chat.page.fill("#join-input", room)
    chat.page.press("#join-input", "Enter")
    expect(chat.page.locator("#room-title")).to_have_text("#" + room, timeout=WAIT_MS)


def show(chat: "shared.ChatPage", room: str) -> None:
    """Back to a room already joined, as a user does by typing /join ROOM."""
    chat.type(f"/join {room}")
    expect(chat.page.locator("#room-title")).to_have_text("#" + room, timeout=WAIT_MS)


def chatty(chat: "shared.ChatPage", bob: TelnetClient, count: int = 40) -> str:
    """bob says `count` lines in the lobby, one at a time (lines sent at once would be one pasted
    message); the page shows them all. Returns the last."""
    for n in range(1, count + 1):
        bob.send(f"line {n} of a long morning")
        bob.expect(f"<bob> line {n} of a long morning")
    last = f"line {count} of a long morning"
    expect(chat.messages("lobby", last)).to_have_count(1, timeout=WAIT_MS)
    return last


def last_line_in_view(chat: "shared.ChatPage") -> tuple[dict[str, Any], dict[str, Any]]:
    settle(chat)
    lines = boxes(chat, '#log .lines[data-room="lobby"] > li')
    return lines[-1], box(chat, "#log")


def test_phone_header_rooms_and_forms_leave_the_log_most_of_the_screen(open_chat, connect):
    """At 390x844 with a long nick and five rooms, everything above the log takes at most 23% of
    the height (31% before), the log at least 70% (61% before), and the top bar stays one row."""
    connect("bob")
    chat = open_chat(PHONE)
    chat.set_nick(LONG_NICK)
    for room in ROOMS:
        join(chat, room)
    show(chat, "lobby")
    settle(chat)
    log = box(chat, "#log")
    assert log["y"] <= 0.23 * PHONE["height"], f"the log starts at {log['y']:.0f} px"
    assert log["height"] >= 0.70 * PHONE["height"], f"the log is {log['height']:.0f} px high"
    assert box(chat, ".topbar")["height"] <= 48
    assert box(chat, ".composer")["bottom"] <= PHONE["height"] + 0.5


def test_phone_unread_badge_of_the_last_room_can_be_seen(open_chat, connect):
    """At 390x844 with five rooms joined, the unread badge of the last one is on screen, not
    clipped off to the right of the room strip; so is every joined room's chip."""
    bob = connect("bob")
    chat = open_chat(PHONE)
    chat.set_nick("alice")
    for room in ROOMS:
        join(chat, room)
    show(chat, "lobby")
    bob.send(f"/join {ROOMS[-1]}")
    bob.send("news in the last room")
    badge = chat.page.locator(f'#room-list button[data-room="{ROOMS[-1]}"] .badge')
    expect(badge).to_contain_text("1", timeout=WAIT_MS)
    settle(chat)
    seen = box(chat, f'#room-list button[data-room="{ROOMS[-1]}"] .badge')
    assert seen["seen"] and seen["x"] >= 0 and seen["right"] <= PHONE["width"], seen
    for room in ["lobby", *ROOMS]:
        chip = box(chat, f'#room-list button[data-room="{room}"]')
        assert chip["seen"] and chip["right"] <= PHONE["width"], (room, chip)


def test_phone_nick_box_shows_the_whole_nick(open_chat):
    """At 390x844 the nick box is wide enough for a 17-character nick: nothing is cut off
    (while the box is being edited, its button takes part of the row)."""
    chat = open_chat(PHONE)
    chat.set_nick(LONG_NICK)
    chat.page.locator("#message-input").focus()  # done with the nick, back to talking
    settle(chat)
    widths = chat.page.evaluate(NICK_WIDTHS)
    assert widths[0] <= widths[1], f"text {widths[0]} px in a box of {widths[1]} px"
    assert box(chat, "#nick-input")["seen"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_people_here_has_a_visible_open_close_marker(open_chat, viewport):
    """The summary of "People here" shows a disclosure arrow, and the arrow changes when the
    list opens or closes."""
    chat = open_chat(viewport)
    marker = """() => {
        const summary = document.querySelector('#members-panel > summary');
        const before = getComputedStyle(summary, '::before');
        const own = getComputedStyle(summary);
        return { before: before.content, transform: before.transform, width: before.width,
                 display: own.display, list: own.listStyleType,
                 open: document.getElementById('members-panel').open };
    }"""
    first = chat.page.evaluate(marker)
    chat.page.locator("#members-panel > summary").focus()
    chat.page.keyboard.press("Enter")
    second = chat.page.evaluate(marker)
    assert first["open"] != second["open"]
    for state in (first, second):
        native = state["display"] == "list-item" and state["list"] != "none"
        drawn = state["before"] not in ("none", "normal", '""')
        assert native or drawn, state
    assert (first["before"], first["transform"], first["list"]) != (
        second["before"],
        second["transform"],
        second["list"],
    )


def test_phone_log_keeps_its_last_line_in_view_when_what_is_above_it_grows(open_chat, connect):
    """At 390x844, with the log scrolled to its end: when the top bar grows (as when it wraps)
    or the people list opens, the last line is still in view at the bottom of the log."""
    bob = connect("bob")
    chat = open_chat(PHONE)
    chatty(chat, bob)
    line, log = last_line_in_view(chat)
    assert line["bottom"] <= log["bottom"] + 1 and line["seen"]
    chat.page.evaluate("() => { document.querySelector('.topbar').style.minHeight = '9rem'; }")
    line, log = last_line_in_view(chat)
    assert line["bottom"] <= log["bottom"] + 1 and line["seen"], (line, log)
    chat.page.evaluate("() => { document.getElementById('members-panel').open = true; }")
    line, log = last_line_in_view(chat)
    assert line["bottom"] <= log["bottom"] + 1, (line, log)
    bob.send("one more after all that")
    expect(chat.messages("lobby", "one more after all that")).to_have_count(1, timeout=WAIT_MS)
    chat.page.evaluate("() => { document.getElementById('members-panel').open = false; }")
    line, log = last_line_in_view(chat)
    assert line["bottom"] <= log["bottom"] + 1 and line["seen"], (line, log)


def test_phone_reader_scrolled_up_keeps_their_place_while_lines_arrive(open_chat, connect):
    """At 390x844, a reader scrolled up to the start of the log still sees the same first line
    at the same place after bob says five more things."""
    bob = connect("bob")
    chat = open_chat(PHONE)
    chatty(chat, bob)
    chat.page.evaluate(
        "() => { const log = document.getElementById('log'); log.scrollTop = -1e6; }"
    )
    settle(chat)
    before = boxes(chat, '#log .lines[data-room="lobby"] > li.message')[0]
    assert before["seen"]
    for n in range(5):
        bob.send(f"later line {n}")
        bob.expect(f"<bob> later line {n}")
    expect(chat.messages("lobby", "later line 4")).to_have_count(1, timeout=WAIT_MS)
    settle(chat)
    after = boxes(chat, '#log .lines[data-room="lobby"] > li.message')[0]
    assert abs(after["y"] - before["y"]) <= 1 and after["seen"], (before, after)


def test_desktop_keeps_three_columns_with_the_log_filling_the_middle(open_chat, connect):
    """At 1280x800: rooms on the left, the log and the composer in the middle, people on the
    right, nothing wider than the window, and the composer at the bottom edge."""
    bob = connect("bob")
    chat = open_chat(DESKTOP)
    chat.set_nick(LONG_NICK)
    join(chat, "dev")
    show(chat, "lobby")
    chatty(chat, bob, 30)
    settle(chat)
    rooms, log, people = box(chat, ".sidebar"), box(chat, "#log"), box(chat, "#members-panel")
    assert rooms["x"] == 0 and rooms["right"] <= log["x"] + 1
    assert log["right"] <= people["x"] + 1 and people["right"] == DESKTOP["width"]
    assert log["height"] >= 0.7 * DESKTOP["height"]
    assert box(chat, ".composer")["bottom"] == DESKTOP["height"]
    assert box(chat, ".topbar")["height"] <= 56
    width = chat.page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= DESKTOP["width"]
    members = boxes(chat, "#member-list li")
    assert len(members) == 2 and all(member["seen"] for member in members)
    line, log = last_line_in_view(chat)
    assert line["bottom"] <= log["bottom"] + 1 and line["seen"]
    widths = chat.page.evaluate(NICK_WIDTHS)
    assert widths[0] <= widths[1]


def test_screenshots_of_a_conversation_with_a_telnet_user_on_a_desktop_and_a_phone(
    open_chat, connect
):
    """A conversation of alice (the page) with bob and carol (telnet), photographed at 1280x800
    and at 390x844 into tests/e2e/artifacts/; README's pictures are copies of these."""
    bob = connect("bob")
    carol = connect("carol")
    chat = open_chat(DESKTOP, color_scheme="light")
    chat.set_nick("alice")
    join(chat, "dev")
    show(chat, "lobby")
    bob.send("morning all! the deploy went out at 09:00")
    expect(chat.messages("lobby", "morning all! the deploy went out at 09:00")).to_have_count(1)
    chat.type("nice, any trouble with the migrations?")
    bob.send("none, it took 40 seconds")
    for line, echo in [
        ("/me is reading the release notes", "* carol is reading"),
        ("Grüße aus Zürich, ça va? (typed in telnet)", "typed in telnet"),
        ("/join #dev", "[dev] -> carol joined"),
        ("review please: the websocket bridge", "review please"),
    ]:
        carol.send(line)  # one at a time: lines sent at once would be one pasted message
        carol.expect(echo)
    bob.send("/msg alice lunch at 12:30?")
    expect(chat.page.locator("#log li.pm")).to_have_count(1, timeout=WAIT_MS)
    expect(chat.page.locator('#room-list button[data-room="dev"] .badge')).to_contain_text("1")
    expect(chat.page.locator("#member-list li")).to_have_count(3, timeout=WAIT_MS)
    expect(chat.messages("lobby", "Grüße aus Zürich, ça va? (typed in telnet)")).to_have_count(1)
    chat.page.locator("#message-input").focus()
    time.sleep(0.3)  # the status dot's transition, for a steady picture
    ARTIFACTS.mkdir(exist_ok=True)
    desktop = ARTIFACTS / "chat-desktop.png"
    chat.page.screenshot(path=str(desktop))
    chat.page.set_viewport_size(PHONE)
    chat.page.evaluate("() => { document.getElementById('members-panel').open = false; }")
    settle(chat)  # a phone opens the page with the people list folded
    phone = ARTIFACTS / "chat-phone.png"
    chat.page.screenshot(path=str(phone))
    for path in (desktop, phone):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chat.dialogs == []

"""Accessibility of the pages in Chromium: axe-core finds nothing serious or critical, and the
chat works from the keyboard alone with the focus always visible.

axe-core comes from .ci/run (tests/e2e/axe.py): without it these tests skip on a laptop and
fail under CI, as do the browser tests without chromium.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import axe
from tests.e2e import test_browser as shared
from tests.e2e.conftest import HubProcess, TelnetClient
from tests.e2e.test_page_look import DESKTOP, PHONE, join, settle

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the test extra installs it; test_browser skips then
    expect = None

browser = shared.browser  # one headless Chromium for the module, as in test_browser.py
WAIT_MS = shared.WAIT_MS
SCHEMES = [
    pytest.param(DESKTOP, "light", id="desktop-light"),
    pytest.param(PHONE, "dark", id="phone-dark"),
]
# Whether the focused element shows where the focus is: it matches :focus-visible and draws
# an outline at least 2px wide, and nothing covers its centre.
FOCUS = """() => {
    const node = document.activeElement;
    if (!node || node === document.body) return { ok: false, what: "nothing focused" };
    const style = getComputedStyle(node);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
    const box = node.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    const what = node.id ? "#" + node.id : node.tagName.toLowerCase() + "." + node.className;
    return { ok: node.matches(":focus-visible") && outline && node.contains(hit),
             what, outline: style.outlineStyle + " " + style.outlineWidth,
             room: node.dataset ? node.dataset.room || null : null,
             convo: node.dataset ? node.dataset.convo || null : null };
}"""


@pytest.fixture
def open_page(browser: Any, hub: HubProcess) -> Iterator[Callable[..., Any]]:
    """`open_page(path, viewport, scheme)`: a Playwright page at `path` of the running hub."""
    contexts: list[Any] = []

    def opened(path: str, viewport: dict[str, int], scheme: str = "light", **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, color_scheme=scheme, **options)
        contexts.append(context)
        page = context.new_page()
        page.goto(hub.base_url + path)
        return page

    yield opened
    for context in contexts:
        context.close()


def no_serious_violations(page: Any) -> None:
    found = axe.violations(page)
    assert found == [], "axe-core found serious or critical violations:\n" + axe.describe(found)


def conversation(connect: Callable[..., TelnetClient]) -> TelnetClient:
    """bob (telnet) has said things in the lobby, in words and as an action."""
    bob = connect("bob")
    for line, echo in [
        ("morning! the deploy went out at 09:00", "deploy went out"),
        ("/me waves", "* bob waves"),
        ("<b>markup</b> is only text", "is only text"),
    ]:
        bob.send(line)
        bob.expect(echo)
    return bob


@pytest.mark.parametrize(("viewport", "scheme"), SCHEMES)
def test_chat_page_has_no_serious_axe_violations(open_page, connect, viewport, scheme):
    """`/` with a conversation, a private message, an unread badge and the people list open:
    axe-core reports no serious or critical violation."""
    axe.axe_script()
    bob = conversation(connect)
    page = open_page("/", viewport, scheme)
    chat = shared.ChatPage(page)
    chat.wait_connected()
    chat.set_nick("alice")
    join(chat, "dev")
    bob.send("/msg alice a private word")
    expect(page.locator("#log li.pm")).to_have_count(1, timeout=WAIT_MS)
    page.locator('#room-list button[data-room="lobby"]').click()
    expect(chat.messages("lobby", "<b>markup</b> is only text")).to_have_count(1)
    bob.send("/join dev")
    bob.send("news in dev")
    expect(page.locator('#room-list button[data-room="dev"] .badge')).to_contain_text("1")
    page.evaluate("() => { document.getElementById('members-panel').open = true; }")
    settle(chat)
    no_serious_violations(page)
    assert chat.errors == []


@pytest.mark.parametrize(("viewport", "scheme"), SCHEMES)
@pytest.mark.parametrize("path", ["/rooms/lobby", "/rooms/"])
def test_room_pages_have_no_serious_axe_violations(open_page, connect, path, viewport, scheme):
    """The server-rendered transcript of a room with messages, and the list of rooms: axe-core
    reports no serious or critical violation."""
    axe.axe_script()
    conversation(connect)
    page = open_page(path, viewport, scheme)
    expect(page.locator("main")).to_be_visible()
    if path == "/rooms/lobby":
        expect(page.locator(".transcript li.message")).to_have_count(2)
    no_serious_violations(page)


LOGIN_OPENERS = [  # what may show a folded log-in form: the first one present is used
    "details:has(input[type=password]) > summary",
    "button:text-matches('log ?in|sign ?in', 'i')",
    "a:text-matches('log ?in|sign ?in', 'i')",
]


@pytest.mark.parametrize(("viewport", "scheme"), SCHEMES)
def test_log_in_form_has_no_serious_axe_violations(open_page, viewport, scheme):
    """The page's log-in form, shown: axe-core reports no serious or critical violation.
    Skipped while the page has no log-in form (a password field) at all."""
    axe.axe_script()
    page = open_page("/", viewport, scheme)
    shared.ChatPage(page).wait_connected()
    password = page.locator("input[type=password]")
    if password.count() == 0:
        for opener in LOGIN_OPENERS:
            if page.locator(opener).count():
                page.locator(opener).first.click()
                break
    if password.count() == 0:
        pytest.skip("the page has no log-in form yet")
    if not password.first.is_visible():
        for opener in LOGIN_OPENERS:
            if page.locator(opener).count():
                page.locator(opener).first.click()
                break
    expect(password.first).to_be_visible(timeout=WAIT_MS)
    no_serious_violations(page)


def test_axe_core_missing_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    """Without axe.min.js the accessibility tests fail when CI=true and skip otherwise."""
    monkeypatch.setenv("AXE_CORE_JS", str(tmp_path / "nowhere" / "axe.min.js"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="axe-core is missing"):
        axe.axe_script()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="axe-core is missing"):
        axe.axe_script()
    assert "AXE_CORE_JS" in os.environ


def focus_shows(page: Any) -> dict[str, Any]:
    """Where the focus is; fails unless it can be seen."""
    where: dict[str, Any] = page.evaluate(FOCUS)
    assert where["ok"], f"the focus cannot be seen: {where}"
    return where


def tab_to(page: Any, wanted: Callable[[dict[str, Any]], bool], key: str = "Tab") -> list[str]:
    """Press `key` until the focus is on what `wanted` accepts, checking at every stop that
    the focus can be seen; returns the stops."""
    stops: list[str] = []
    for _ in range(40):
        page.keyboard.press(key)
        where = focus_shows(page)
        stops.append(where["what"] + (f"[{where['room']}]" if where["room"] else ""))
        if wanted(where):
            return stops
    raise AssertionError(f"never reached it by {key}; stops: {stops}")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_keyboard_alone_joins_talks_switches_rooms_and_reads_a_private_message(
    open_page, connect, viewport
):
    """No clicks: Tab to the join form, join dev, say something, go back to the lobby with
    Shift+Tab and Enter, then open bob's private conversation (its own view, listed under
    "Private messages") and read his message in the log; at every stop the focus is visible
    (an outline at least 2px wide, not covered)."""
    bob = connect("bob")
    page = open_page("/", viewport)
    chat = shared.ChatPage(page)
    chat.wait_connected()
    bob.send("/join dev")
    bob.expect("[dev] -> bob joined")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    focus_shows(page)
    tab_to(page, lambda where: where["what"] == "#join-input")
    page.keyboard.type("dev")
    page.keyboard.press("Enter")
    expect(page.locator("#room-title")).to_have_text("#dev", timeout=WAIT_MS)
    expect(page.locator("#message-input")).to_be_focused()
    focus_shows(page)
    page.keyboard.type("said with the keyboard alone")
    page.keyboard.press("Enter")
    bob.expect("said with the keyboard alone")
    focus_shows(page)
    tab_to(page, lambda where: where["room"] == "lobby", key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#room-title")).to_have_text("#lobby", timeout=WAIT_MS)
    expect(page.locator("#message-input")).to_be_focused()
    focus_shows(page)
    nick = page.evaluate("() => window.chathub.state.nick")
    bob.send(f"/msg {nick} a private word for the keyboard user")
    pm = page.locator("#log li.pm .text")
    expect(pm).to_have_text("a private word for the keyboard user", timeout=WAIT_MS)
    tab_to(page, lambda where: where["convo"] == "@bob", key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#message-input")).to_be_focused()
    focus_shows(page)
    tab_to(page, lambda where: where["what"] == "#log", key="Shift+Tab")
    page.keyboard.press("End")
    settle(chat)
    line = pm.bounding_box()
    log = page.locator("#log").bounding_box()
    assert line is not None and log is not None
    assert log["y"] <= line["y"] and line["y"] + line["height"] <= log["y"] + log["height"] + 1
    assert chat.errors == []

"""Issue 15's defects of the chat page, each checked in Chromium against the real process."""

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.e2e.accounts import READER_SECRET, start_with_operator
from tests.e2e.conftest import HubProcess, TelnetClient, start_hub
from tests.e2e.test_browser import (
    VIEWPORTS,
    WAIT_MS,
    ChatPage,
    browser,
    chat,
    expect,
    open_chat,
    shot,
)

__all__ = ["browser", "chat"]  # fixtures shared with test_browser.py


def say_one_by_one(client: TelnetClient, room: str, nick: str, texts: list[str]) -> None:
    """Telnet lines one at a time: lines that arrive together are one pasted message."""
    for text in texts:
        client.send(text)
        client.expect(f"[{room}] <{nick}> {text}")


def test_joining_a_room_with_people_lists_them_and_its_count_never_drops(chat: ChatPage, connect):
    """After joining a room where two people are, People here names all three at once (the
    page asks `who`), and the room's count in the sidebar never shows fewer than were there."""
    for nick in ("bob", "carol"):
        client: TelnetClient = connect(nick)
        client.send("/join dev")
        client.expect(f"[dev] -> {nick} joined")
    chat.type("/rooms")
    count = chat.page.locator('#room-list button[data-room="dev"] .count')
    expect(count).to_contain_text("2", timeout=WAIT_MS)
    chat.page.evaluate(
        """() => {
        window.devCounts = [];
        new MutationObserver(() => {
          const node = document.querySelector('#room-list button[data-room="dev"] .count');
          if (node) window.devCounts.push(Number(node.textContent.replace(/\\D/g, '')));
        }).observe(document.getElementById('room-list'), {childList: true, subtree: true});
    }"""
    )
    chat.type("/join dev")
    expect(chat.page.locator("#room-title")).to_have_text("#dev", timeout=WAIT_MS)
    expect(chat.page.locator("#member-list li")).to_have_count(3, timeout=WAIT_MS)
    expect(chat.page.locator("#member-count")).to_have_text("3")
    expect(count).to_contain_text("3")
    counts = chat.page.evaluate("window.devCounts")
    assert counts and min(counts) >= 2, counts


def test_a_reload_keeps_the_nick_and_the_rooms(chat: ChatPage):
    """A guest's nick, rooms and the room on screen survive a reload."""
    chat.set_nick("alice")
    chat.type("/join dev")
    chat.type("/join ops")
    chat.page.locator('#room-list button[data-room="dev"]').click()
    expect(chat.page.locator("#room-title")).to_have_text("#dev")
    chat.page.reload()
    chat.wait_connected("alice")
    for room in ("lobby", "dev", "ops"):
        expect(chat.page.locator(f'#room-list button.joined[data-room="{room}"]')).to_be_visible()
    expect(chat.page.locator("#room-title")).to_have_text("#dev")
    expect(chat.page.locator("#nick-input")).to_have_value("alice")


def test_private_messages_have_their_own_conversation_that_outlives_rooms_and_reloads(
    chat: ChatPage, connect
):
    """A private message opens a conversation in the sidebar with an unread count; leaving
    the room does not lose it, and it is still there after a reload."""
    erin: TelnetClient = connect("erin")
    chat.set_nick("frank")
    erin.send("/msg frank a secret for you")
    convo = chat.page.locator('#convo-list button[data-convo="@erin"]')
    expect(convo.locator(".badge")).to_contain_text("1", timeout=WAIT_MS)
    expect(chat.page).to_have_title(re.compile(r"^\(1\)"))
    chat.page.click("#part-button")  # leave lobby, the only room
    expect(chat.page.locator("#room-title")).to_have_text("No room", timeout=WAIT_MS)
    convo.click()
    expect(chat.page.locator("#room-title")).to_have_text("@erin")
    line = chat.page.locator('#log .lines[data-convo="@erin"] li.pm')
    expect(line.filter(has_text="a secret for you")).to_be_visible()
    expect(convo.locator(".badge")).to_have_count(0)
    chat.type("and one back")
    erin.expect("[pm] <frank> and one back")
    chat.page.reload()
    chat.wait_connected("frank")
    chat.page.locator('#convo-list button[data-convo="@erin"]').click()
    expect(line).to_have_count(2)
    expect(line.nth(0)).to_contain_text("a secret for you")
    expect(line.nth(1)).to_contain_text("and one back")


def test_an_over_long_message_is_kept_with_a_counter_and_send_disabled(chat: ChatPage, connect):
    """Past 4,000 characters a counter says so, Send is disabled, and Enter keeps the text;
    at 4,000 it sends."""
    bob: TelnetClient = connect("bob")
    box = chat.page.locator("#message-input")
    too_long = "x" * 4001
    box.fill(too_long)
    expect(chat.page.locator("#char-count")).to_have_text("4,001 / 4,000")
    expect(chat.page.locator("#send-button")).to_be_disabled()
    box.press("Enter")
    expect(box).to_have_value(too_long)
    expect(chat.lines("lobby").filter(has_text="too long to send")).to_have_count(1)
    box.press("Backspace")
    expect(chat.page.locator("#send-button")).to_be_enabled()
    box.press("Enter")
    expect(box).to_have_value("", timeout=WAIT_MS)
    expect(chat.messages("lobby", "x" * 4000)).to_have_count(1, timeout=WAIT_MS)
    bob.expect("xxxxxxxxxx")


def test_after_leaving_every_room_the_box_address_and_notice_say_so(chat: ChatPage):
    """Leaving the last room: the title says No room, the box asks to join one, the address
    names no room, and a notice says how to join."""
    expect(chat.page.locator("#room-title")).to_have_text("#lobby")
    chat.page.click("#part-button")
    expect(chat.page.locator("#room-title")).to_have_text("No room", timeout=WAIT_MS)
    assert "Join a room" in (chat.page.get_attribute("#message-input", "placeholder") or "")
    assert chat.page.evaluate("location.hash") == ""
    expect(chat.page.locator("#log li.no-room")).to_be_visible()
    expect(chat.page.locator("#part-button")).to_be_hidden()
    chat.type("hello?")
    expect(chat.page.locator("#log li.error").filter(has_text="no room")).to_be_visible()


def test_offline_counts_down_to_the_next_try(chat: ChatPage, hub: HubProcess):
    """With the server gone, "offline, retrying in N s" counts down second by second."""
    hub.process.kill()
    hub.process.wait()
    status = chat.page.locator("#status-text")
    expect(status).to_have_text(re.compile(r"retrying in ([3-9]|\d\d) s"), timeout=20_000)
    seconds = int(re.findall(r"\d+", status.text_content() or "")[0])
    expect(status).to_have_text(f"offline, retrying in {seconds - 1} s", timeout=2_000)
    expect(chat.page.locator("#retry-button")).to_be_visible()


def test_a_refused_nick_puts_back_the_real_nick(chat: ChatPage, connect):
    """Asking for a nick someone has: the error shows, and the nick box shows the nick we
    still have."""
    connect("bob")
    real = chat.page.input_value("#nick-input")
    chat.page.fill("#nick-input", "bob")
    chat.page.press("#nick-input", "Enter")
    expect(chat.page.locator("#log li.error")).to_have_count(1, timeout=WAIT_MS)
    expect(chat.page.locator("#nick-input")).to_have_value(real)
    expect(chat.page.locator("#status")).to_contain_text(f"connected as {real}")


def test_changing_the_address_to_a_room_joins_or_shows_it(chat: ChatPage):
    """Typing #engineering in the address joins that room; #lobby goes back to the lobby."""
    chat.page.evaluate("location.hash = '#engineering'")
    expect(chat.page.locator("#room-title")).to_have_text("#engineering", timeout=WAIT_MS)
    expect(chat.page.locator('#room-list button.joined[data-room="engineering"]')).to_be_visible()
    chat.page.evaluate("location.hash = '#lobby'")
    expect(chat.page.locator("#room-title")).to_have_text("#lobby", timeout=WAIT_MS)


def test_ids_show_and_history_puts_older_lines_in_place(browser, tmp_path: Path):
    """Each message shows its id (on hover, and in its time's title); /history N inserts
    the older messages above the replayed ones, in id order, and counts them rightly."""
    hub = start_hub(tmp_path, "--replay", "2", db=":memory:")
    bob = TelnetClient(hub.telnet)
    try:
        bob.expect("type /help")
        bob.send("/nick bob")
        bob.expect("is now known as bob")
        say_one_by_one(bob, "lobby", "bob", [f"m{n}" for n in range(1, 6)])
        chat = open_chat(browser, hub.base_url + "/")
        expect(chat.messages("lobby", "m5")).to_have_count(1, timeout=WAIT_MS)
        expect(chat.messages("lobby", "m3")).to_have_count(0)
        line = chat.messages("lobby", "m4")
        assert "#4" in (line.locator("time").get_attribute("title") or "")
        line.hover()
        expect(line.locator(".msg-id")).to_have_text("#4")
        expect(line.locator(".msg-id")).to_be_visible()
        chat.type("/history 1")
        expect(chat.lines("lobby").filter(has_text="1 stored message of #lobby")).to_have_count(1)
        chat.type("/history 5")
        expect(chat.lines("lobby").filter(has_text="5 stored messages of #lobby")).to_have_count(1)
        ids = chat.lines("lobby").evaluate_all(
            "nodes => nodes.filter(n => n.dataset.id).map(n => Number(n.dataset.id))"
        )
        assert ids == [1, 2, 3, 4, 5]
        shot(chat, "page-history-in-place.png")
        assert chat.errors == []
        chat.page.context.close()
    finally:
        bob.close()
        hub.stop()


def test_without_javascript_the_page_shows_no_dead_forms(browser, hub: HubProcess, connect):
    """With JavaScript off, / shows the notice and the room links, and none of the forms that
    only the script can work."""
    connect("henry")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(hub.base_url + "/?nick=secret")
    expect(page.locator(".noscript")).to_be_visible()
    expect(page.locator("#room-list a.room").first).to_be_visible()
    for form in ("#message-form", "#join-form", "#nick-form", "#login-form", "#welcome-form"):
        expect(page.locator(form)).to_be_hidden()
    assert page.locator("form:visible, button:visible, input:visible").count() == 0
    expect(page.locator("#members-panel")).to_be_hidden()
    context.close()


def test_a_bot_message_shows_a_bot_tag(browser, tmp_path: Path):
    """A message a script published over HTTP carries a "bot" tag on the page."""
    hub = start_with_operator(tmp_path)
    try:
        chat = open_chat(browser, hub.base_url + "/#dev")
        expect(chat.page.locator("#room-title")).to_have_text("#dev")
        request = urllib.request.Request(
            hub.base_url + "/api/rooms/dev/messages",
            data=json.dumps({"text": "build 42 passed"}).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {READER_SECRET}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        line = chat.messages("dev", "build 42 passed")
        expect(line).to_have_count(1, timeout=WAIT_MS)
        expect(line.locator(".tag.bot")).to_have_text("bot")
        expect(line.locator(".nick")).to_have_text("reader-bot")
        chat.type("not a bot")
        expect(chat.messages("dev", "not a bot").locator(".tag.bot")).to_have_count(0)
        assert chat.errors == []
        chat.page.context.close()
    finally:
        hub.stop()


def test_a_crowd_named_in_part_makes_the_page_ask_who(browser, hub: HubProcess):
    """A batched join whose `count` is more than the nicks it names: the page says how many
    arrived and asks the server `who` for the whole list."""
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    context.add_init_script("localStorage.setItem('chathub.visited', 'true')")
    page = context.new_page()
    sent: list[str] = []
    routes: list[Any] = []

    def route(socket: Any) -> None:
        server = socket.connect_to_server()
        routes.append(socket)

        def forward(message: Any) -> None:
            sent.append(str(message))
            server.send(message)

        socket.on_message(forward)

    page.route_web_socket(re.compile(r"/ws"), route)
    chat = ChatPage(page)
    chat.open(hub.base_url + "/")
    expect(page.locator("#member-list li")).to_have_count(1, timeout=WAIT_MS)
    asked_before = sum('"op":"who"' in frame for frame in sent)
    crowd = [f"crowd-{n}" for n in range(1, 101)]
    event = {"type": "event", "room": "lobby", "kind": "join", "nick": crowd[0]}
    event.update({"nicks": crowd, "count": 150, "text": "", "ts": time.time()})
    routes[0].send(json.dumps(event))
    expect(chat.lines("lobby").filter(has_text="and 147 others joined")).to_have_count(1)
    deadline = time.monotonic() + WAIT_MS / 1000
    while sum('"op":"who"' in frame for frame in sent) == asked_before:
        assert time.monotonic() < deadline, sent
        page.wait_for_timeout(50)
    # The server's answer (nobody of the crowd is really there) replaces the guess.
    expect(page.locator("#member-list li")).to_have_count(1, timeout=WAIT_MS)
    assert chat.errors == []
    context.close()

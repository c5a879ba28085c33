"""The page's log-in box and moderation, in Chromium against the real process: register in the
page, reload, log out, log in from another browser, and moderate a telnet spammer.

The spammer connects from its own loopback address (127.0.0.5), so a ban of that address
keeps it out whatever nick it takes.
"""

import socket
from pathlib import Path

from tests.e2e.accounts import PASSWORD, start_with_operator, telnet
from tests.e2e.conftest import HubProcess, TelnetClient
from tests.e2e.test_browser import WAIT_MS, ChatPage, browser, expect, open_chat, shot

__all__ = ["browser"]  # the module's Chromium, shared with test_browser.py

SPAMMER_ADDRESS = "127.0.0.5"


def telnet_from(hub: HubProcess, address: str, nick: str) -> TelnetClient:
    """A telnet client whose connection comes from `address` (any 127.x works on Linux)."""
    client = TelnetClient.__new__(TelnetClient)
    client.sock = socket.create_connection(
        ("127.0.0.1", hub.telnet), timeout=5.0, source_address=(address, 0)
    )
    client.timeout = 5.0
    client._buffer = b""
    client._preamble = True
    client.expect("type /help")
    client.send(f"/nick {nick}")
    client.expect(f"is now known as {nick}")
    return client


def open_account(chat: ChatPage) -> None:
    panel = chat.page.locator("#account-panel")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()


def test_register_reload_log_out_log_in_elsewhere_and_moderate(browser, tmp_path: Path):
    """Register in the page; a reload keeps the account, the nick and the rooms; log out; a
    telnet user cannot take the nick; another browser logs in; as the room's owner it kicks a
    telnet spammer (member list and /kick) and bans its address, which keeps it out under
    another nick."""
    hub = start_with_operator(tmp_path)
    clients: list[TelnetClient] = []
    try:
        first = open_chat(browser, hub.base_url + "/")
        first.set_nick("alice")
        first.type("/join dev")
        expect(first.page.locator("#room-title")).to_have_text("#dev", timeout=WAIT_MS)
        open_account(first)
        expect(first.page.locator("#whoami")).to_contain_text("Guest: alice")
        first.page.fill("#login-password", PASSWORD)
        first.page.click("#register-button")
        expect(first.page.locator("#whoami")).to_contain_text("Logged in as alice", timeout=WAIT_MS)
        expect(first.page.locator("#logout-button")).to_be_visible()
        # The page also logs in over HTTP, for the cookie that identifies it after a reload.
        expect(first.page.locator("#login-message")).to_contain_text("remembers", timeout=WAIT_MS)
        shot(first, "page-account-registered.png")

        first.page.reload()
        first.wait_connected("alice")
        expect(first.page.locator("#whoami")).to_contain_text("Logged in as alice")
        expect(first.page.locator("#room-title")).to_have_text("#dev")
        for room in ("lobby", "dev"):
            expect(
                first.page.locator(f'#room-list button.joined[data-room="{room}"]')
            ).to_be_visible()

        open_account(first)
        first.page.click("#logout-button")
        expect(first.page.locator("#whoami")).to_contain_text("Guest: alice", timeout=WAIT_MS)
        expect(first.page.locator("#login-form")).to_be_visible()
        assert first.errors == []
        first.page.context.close()

        impostor = telnet(hub)
        clients.append(impostor)
        impostor.send("/nick alice")
        impostor.expect("! the nick alice is registered")

        second = open_chat(browser, hub.base_url + "/")
        open_account(second)
        second.page.fill("#login-nick", "alice")
        second.page.fill("#login-password", PASSWORD)
        second.page.click("#login-button")
        second.wait_connected("alice")
        expect(second.page.locator("#whoami")).to_contain_text(
            "Logged in as alice", timeout=WAIT_MS
        )

        second.type("/join ops")  # a new room: its first registered member owns it
        second.page.locator(".line").filter(has_text="you are the owner of ops").wait_for(
            timeout=WAIT_MS
        )
        spammer = telnet_from(hub, SPAMMER_ADDRESS, "spammer")
        clients.append(spammer)
        spammer.send("/join ops")
        spammer.expect("[ops] -> spammer joined")
        spammer.send("buy cheap watches")
        expect(second.messages("ops", "buy cheap watches")).to_have_count(1, timeout=WAIT_MS)

        kick = second.page.locator('#member-list button[data-action="kick"][data-nick="spammer"]')
        kick.click()
        spammer.expect("[ops] <- spammer was kicked by alice")
        expect(second.lines("ops").filter(has_text="spammer was kicked by alice")).to_have_count(
            1, timeout=WAIT_MS
        )
        spammer.send("/join ops")
        spammer.expect("[ops] -> spammer joined")
        second.type("/kick spammer spam")
        spammer.expect("[ops] <- spammer was kicked by alice (spam)")
        spammer.send("/join ops")
        spammer.expect("[ops] -> spammer joined")
        second.type(f"/ban {SPAMMER_ADDRESS} 2h spam")
        spammer.expect("was kicked by alice")
        expect(
            second.lines("ops").filter(has_text=f"alice banned {SPAMMER_ADDRESS}")
        ).to_have_count(1, timeout=WAIT_MS)
        spammer.send("/nick innocent")
        spammer.expect("is now known as innocent")
        spammer.send("/join ops")
        spammer.expect("! you are banned from ops")
        expect(second.page.locator("#member-list")).not_to_contain_text("spammer")
        # The page asks a logged-in user's conversations of the server; one that does not keep
        # them yet answers unknown-op, which the page takes quietly.
        expect(second.page.locator("#log li.error")).to_have_count(0)
        shot(second, "page-account-moderation.png")
        assert second.errors == []
        second.page.context.close()
    finally:
        for client in clients:
            client.close()
        hub.stop()


def test_a_guest_who_registers_keeps_its_private_conversations(browser, tmp_path: Path):
    """A guest's conversation (kept in the browser) is still there once it registers, and
    after a reload as the account."""
    hub = start_with_operator(tmp_path)
    erin = telnet(hub, "erin")
    try:
        chat = open_chat(browser, hub.base_url + "/")
        chat.set_nick("frank")
        erin.send("/msg frank before you registered")
        convo = chat.page.locator('#convo-list button[data-convo="@erin"]')
        expect(convo).to_be_visible(timeout=WAIT_MS)
        open_account(chat)
        chat.page.fill("#login-password", PASSWORD)
        chat.page.click("#register-button")
        expect(chat.page.locator("#login-message")).to_contain_text("remembers", timeout=WAIT_MS)
        expect(convo).to_be_visible()
        chat.page.reload()
        chat.wait_connected("frank")
        expect(chat.page.locator("#whoami")).to_contain_text("Logged in as frank")
        convo.click()
        lines = chat.page.locator('#log .lines[data-convo="@erin"] li.pm')
        expect(lines.filter(has_text="before you registered")).to_have_count(1)
        assert chat.errors == []
        chat.page.context.close()
    finally:
        erin.close()
        hub.stop()

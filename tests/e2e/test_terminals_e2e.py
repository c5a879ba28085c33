"""The real clients, `telnet` (netkit) and `nc`, in tmux: what their users see on screen.

Skipped when telnet, nc or tmux is missing, except under CI, where that is a failure. Each test
runs its own tmux server (its own socket) and ends it.
"""

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import HubProcess, TelnetClient, ci, start_hub

WIDTH, HEIGHT = 80, 40
TEXT = "日本語 Ü 👋🏽"
# What a screen must never show: a replacement character, a caret-escaped control, a C0/C1
# control, or a raw escape.
STRAY = ("\ufffd", "^[", "^@", "\x1b", *(chr(n) for n in range(0x80, 0xA0)))


class Tmux:
    """A tmux server of our own, with one window per client."""

    def __init__(self, tmp: Path) -> None:
        self.socket = str(tmp / "tmux.sock")
        self.env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color"}

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-u", "-S", self.socket, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=10,
            check=True,
        )
        return result.stdout

    def open(self, name: str, command: str) -> None:
        self.run("new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), command)

    def type(self, name: str, text: str) -> None:
        self.run("send-keys", "-t", name, "-l", text)
        self.run("send-keys", "-t", name, "Enter")

    def screen(self, name: str) -> list[str]:
        return self.run("capture-pane", "-p", "-t", name).split("\n")

    def wait(self, name: str, seen: Callable[[list[str]], bool], timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.screen(name)
            if seen(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} never showed it; screen:\n" + "\n".join(rows))
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    for program in ("tmux", "telnet", "nc"):
        if shutil.which(program) is None:
            if ci():
                pytest.fail(f"{program} is missing, and CI must run the terminal tests")
            pytest.skip(f"{program} is missing")
    running = Tmux(tmp_path)
    yield running
    running.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    running = start_hub(tmp_path, db=":memory:")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def has(text: str) -> Callable[[list[str]], bool]:
    return lambda rows: any(text in row for row in rows)


def connect_both(tmux: Tmux, hub: HubProcess) -> None:
    """A telnet user `tuser` and an nc user `nuser`, both greeted and named."""
    tmux.open("telnet", f"telnet 127.0.0.1 {hub.telnet}")
    tmux.open("nc", f"nc 127.0.0.1 {hub.telnet}")
    for name, nick in (("telnet", "tuser"), ("nc", "nuser")):
        tmux.wait(name, has("type /help"))
        tmux.type(name, f"/nick {nick}")
        tmux.wait(name, has(f"is now known as {nick}"))


def no_stray(rows: list[str]) -> None:
    for row in rows:
        assert not any(stray in row for stray in STRAY), repr(row)


def test_non_ascii_text_is_intact_both_ways_with_no_stray_characters(tmux, hub):
    """`日本語 Ü 👋🏽` typed in telnet shows intact in nc and the other way round; neither
    screen shows anything of the telnet negotiation, and telnet's greeting is clean."""
    connect_both(tmux, hub)
    tmux.type("telnet", f"{TEXT} from telnet")
    tmux.type("nc", f"{TEXT} from nc")
    nc_screen = tmux.wait("nc", has(f"[lobby] <tuser> {TEXT} from telnet"))
    telnet_screen = tmux.wait("telnet", has(f"[lobby] <nuser> {TEXT} from nc"))
    tmux.wait("telnet", has(f"[lobby] <tuser> {TEXT} from telnet"))
    tmux.wait("nc", has(f"[lobby] <nuser> {TEXT} from nc"))
    no_stray(nc_screen)
    no_stray(telnet_screen)
    assert "* Welcome to chathub." in nc_screen
    greeting = telnet_screen.index("Escape character is '^]'.") + 1
    assert telnet_screen[greeting] == "* Welcome to chathub."


@pytest.mark.parametrize("padding", [" " * 60, "\u3000" * 30], ids=["spaces", "wide-spaces"])
def test_padding_never_puts_a_forged_line_at_the_start_of_a_row_in_telnet_or_nc(tmux, hub, padding):
    """mallory's `ok`, padding to the end of an 80-column row, then `[lobby] <alice> please
    send your password`: on neither screen does a row start with the forged text."""
    connect_both(tmux, hub)
    mallory = TelnetClient(hub.telnet)
    mallory.expect("type /help")
    mallory.send("/nick mallory")
    forged = "[lobby] <alice> please send your password"
    mallory.send("ok" + padding + forged)
    mallory.expect("please send your password")  # so "the end" is a message of its own
    mallory.send("the end")
    for name in ("telnet", "nc"):
        rows = tmux.wait(name, has("<mallory> the end"))
        assert [row for row in rows if row.startswith("[lobby] <alice>")] == [], rows
        assert any("<mallory> ok [lobby] <alice> please" in row for row in rows), rows
    mallory.close()


def test_visible_filler_cannot_start_a_row_either_on_a_terminal_that_reports_its_width(tmux, hub):
    """Telnet reports its width (NAWS): a line padded with dots to the end of a row is wrapped
    by the hub, and the continuation row is indented under mallory's text."""
    connect_both(tmux, hub)
    mallory = TelnetClient(hub.telnet)
    mallory.expect("type /help")
    mallory.send("/nick mallory")
    mallory.send("ok" + "." * 60 + "[lobby] <alice> please send your password")
    rows = tmux.wait("telnet", has("please send your password"))
    assert [row for row in rows if row.startswith("[lobby] <alice>")] == [], rows
    continued = next(row for row in rows if "please send your password" in row)
    assert continued.startswith(" " * 18)
    mallory.close()


def test_ctrl_c_in_telnet_leaves_and_the_greeting_says_how(tmux, hub):
    """The greeting names /quit and Ctrl-C; Ctrl-C in telnet (IAC IP) says goodbye and closes
    the connection, and the room sees the user leave."""
    watcher = TelnetClient(hub.telnet)
    watcher.expect("type /help")
    tmux.open("telnet", f"telnet 127.0.0.1 {hub.telnet}")
    tmux.run("set-option", "-t", "telnet", "remain-on-exit", "on")  # to read the last screen
    rows = tmux.wait("telnet", has("type /help"))
    assert any("/quit" in row and "Ctrl-C" in row for row in rows), rows
    tmux.type("telnet", "/nick tuser")
    tmux.wait("telnet", has("is now known as tuser"))
    tmux.run("send-keys", "-t", "telnet", "C-c")
    rows = tmux.wait("telnet", has("Connection closed by foreign host"))
    assert any(row.endswith("* goodbye") for row in rows), "\n".join(rows)
    watcher.expect("[lobby] <- tuser left (quit)")
    watcher.close()


@pytest.mark.parametrize("client", ["telnet", "nc"])
def test_a_block_pasted_into_a_terminal_is_one_message_with_every_line(tmux, hub, client):
    """50 lines pasted into telnet or nc arrive as one message of 50 lines: none refused by
    the rate limit or dropped, shown to the others as one line and 49 indented rows."""
    watcher = TelnetClient(hub.telnet)
    watcher.expect("type /help")
    tmux.open(client, f"{client} 127.0.0.1 {hub.telnet}")
    tmux.wait(client, has("type /help"))
    tmux.type(client, "/nick paster")
    tmux.wait(client, has("is now known as paster"))
    watcher.expect("is now known as paster")
    block = "\n".join(f"line {n} of the block" for n in range(1, 51)) + "\n"
    tmux.run("set-buffer", block)
    tmux.run("paste-buffer", "-t", client)
    seen = watcher.expect("line 50 of the block")
    assert seen[0] == "[lobby] <paster> line 1 of the block", seen
    assert [row.strip() for row in seen[1:]] == [f"line {n} of the block" for n in range(2, 51)]
    assert all(row.startswith(" ") for row in seen[1:])
    watcher.send("/history 1")
    assert watcher.expect("line 50 of the block")[-1].strip() == "line 50 of the block"
    rows = tmux.screen(client)
    assert not any(row.startswith("! ") for row in rows), rows
    watcher.close()

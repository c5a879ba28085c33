"""TLS on the real process: telnet over TLS, https and wss with a throwaway self-signed certificate,
and a clear start-up error for a bad certificate."""

import json
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from tests.certs import write_pair
from tests.e2e.conftest import HubProcess, TelnetClient, start_hub


class TLSTelnetClient(TelnetClient):
    """A `TelnetClient` whose socket speaks TLS, checking the server's certificate."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        super().__init__(port)
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh self-signed key and certificate for localhost and 127.0.0.1."""
    directory = tmp_path / "tls"
    directory.mkdir()
    return write_pair(directory)


@pytest.fixture
def context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts only the throwaway certificate (and verifies it)."""
    return ssl.create_default_context(cafile=str(certificate[1]))


@pytest.fixture
def tls_hub(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[HubProcess]:
    """The real process with both listeners on TLS."""
    key, cert = certificate
    endpoint = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    running = start_hub(tmp_path, "--telnet", endpoint, "--web", endpoint, db=":memory:")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_two_users_chat_over_tls_telnet(tls_hub: HubProcess, context: ssl.SSLContext) -> None:
    """Two clients on the TLS telnet port see each other's messages."""
    alice = TLSTelnetClient(tls_hub.telnet, context)
    bob = TLSTelnetClient(tls_hub.telnet, context)
    try:
        alice.expect("type /help")
        bob.expect("type /help")
        alice.send("/nick alice")
        alice.expect("is now known as alice")
        alice.send("hello over tls")
        assert bob.expect("<alice> hello over tls")[-1] == "[lobby] <alice> hello over tls"
    finally:
        alice.close()
        bob.close()


def test_telnet_port_refuses_plain_text(tls_hub: HubProcess) -> None:
    """A client that does not speak TLS gets no greeting in the clear."""
    plain = TelnetClient(tls_hub.telnet, timeout=2.0)
    try:
        plain.send("hello")
        with pytest.raises(AssertionError):
            plain.expect("type /help")
    finally:
        plain.close()


def test_counter_over_https(tls_hub: HubProcess, context: ssl.SSLContext) -> None:
    """GET /counter works over https with the certificate verified."""
    url = f"https://localhost:{tls_hub.web}/counter"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        assert response.status == 200
        assert response.read().decode().startswith("I am request #")


def test_websocket_over_wss(tls_hub: HubProcess, context: ssl.SSLContext) -> None:
    """A wss client is welcomed and its message comes back as an event with an id."""
    uri = f"wss://localhost:{tls_hub.web}/ws?nick=carol"
    with ws_connect(uri, ssl=context, open_timeout=10) as ws:
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["type"] == "welcome"
        assert welcome["nick"] == "carol"
        ws.send(json.dumps({"op": "say", "room": "lobby", "text": "hi over wss", "ref": 1}))
        while True:
            reply = json.loads(ws.recv(timeout=10))
            if reply.get("ref") == 1:
                break
        assert reply["type"] == "event"
        assert reply["text"] == "hi over wss"
        assert isinstance(reply["id"], int)


def run_chathub(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command to completion (it is expected to fail at start-up)."""
    command = [sys.executable, "-m", "chathub", "--db", ":memory:", *args]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30)


def chathub_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("chathub:")]


def test_missing_certificate_is_a_one_line_error(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """A certificate file that does not exist ends start-up with one clear line and exit 1."""
    key, _ = certificate
    missing = tmp_path / "missing.pem"
    endpoint = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={missing}"
    result = run_chathub(tmp_path, "--telnet", endpoint, "--web", "tcp:0:interface=127.0.0.1")
    assert result.returncode == 1
    lines = chathub_lines(result.stderr)
    assert len(lines) == 1
    assert f"certKey {missing}: No such file or directory" in lines[0]
    assert "cannot listen for telnet" in lines[0]


def test_bad_key_on_web_is_a_one_line_error(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    """A key file that holds no key ends start-up with one clear line naming it, and exit 1."""
    _, cert = certificate
    endpoint = f"ssl:0:interface=127.0.0.1:privateKey={cert}:certKey={cert}"
    result = run_chathub(tmp_path, "--telnet", "tcp:0:interface=127.0.0.1", "--web", endpoint)
    assert result.returncode == 1
    lines = chathub_lines(result.stderr)
    assert len(lines) == 1
    assert f"cannot listen for web on {endpoint}: privateKey {cert} holds no usable" in lines[0]

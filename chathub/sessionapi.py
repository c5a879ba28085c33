"""`/api/session`: logging in and out over HTTP (the page's log-in form, scripts).

Rules:
- `POST /api/session` with JSON `{"nick": ..., "password": ...}`: the password is checked as
  `/identify` checks it (`identity.check_password`: Argon2id off the reactor thread, failed
  log-ins slowed per address and account), then a new log-in session is made: 200
  `{"nick": NAME, "token": TOKEN, "expires": TS}` and the `chathub_session` cookie
  (`httpauth.set_cookie`). The token is shown this once; only its hash is kept.
- Refusals are JSON `{"error", "message"}`: 400 (not JSON, missing fields), 401
  (`not-registered`, `bad-password`), 403 (`banned`; `cross-site`: a log-in sent by another
  site's page, whose `Origin` is not ours, is refused, so no page can log a visitor in as
  someone else), 429 (`rate-limited`, with `Retry-After`), 503 (`busy`, with `Retry-After`).
- `GET /api/session`: who the cookie or Bearer token is (`{"nick", "expires"}`), else 401.
- `DELETE /api/session`: ends the session the cookie or Bearer token names (connections that
  identified with it are logged out) and clears the cookie; 200 `{"nick": NAME or null}`.
- The password is never logged or echoed: an error names the nick at most.
"""

import json
import math
from typing import Any

from twisted.web.server import Request

from chathub import identity
from chathub.events import Error
from chathub.httpauth import clear_cookie, credential, login_of, same_site, set_cookie
from chathub.hub import Hub
from chathub.identity import log_out_login
from chathub.records import AccountRecord
from chathub.respond import Reply, answer, send_error, send_json
from chathub.stream import peer_address

# The status of each refusal a log-in can get.
STATUS = {"not-registered": 401, "bad-password": 401, "banned": 403, "busy": 503}


def log_in(request: Request, hub: Hub) -> bytes | int:
    if not same_site(request):
        return send_error(request, 403, "cross-site", "log in from this server's own page")
    try:
        body: Any = json.loads(request.content.read() if request.content is not None else b"")
    except (ValueError, RecursionError):
        body = None
    nick = body.get("nick") if isinstance(body, dict) else None
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(nick, str) or not isinstance(password, str):
        message = 'send JSON {"nick": ..., "password": ...}'
        return send_error(request, 400, "bad-request", message)
    address = peer_address(request.transport)
    account = hub.accounts.find(nick)
    wait = hub.attempts.wait(address, account.name if account else None, hub.clock())
    if wait > 0:
        request.setHeader(b"retry-after", str(math.ceil(wait)).encode())
        hub.counters.logins_limited += 1
        return send_error(request, 429, "rate-limited", "too many failed log-ins; wait")

    def start(reply: Reply) -> None:
        def checked(result: AccountRecord | Error) -> None:
            if isinstance(result, Error):
                status = STATUS.get(result.code, 400)
                if status == 503:
                    request.setHeader(b"retry-after", b"1")
                reply(send_error(request, status, result.code, result.message))
                return
            token, login = hub.accounts.new_login(result, hub.clock())
            set_cookie(request, token)
            body = {"nick": result.name, "token": token, "expires": login.expires}
            reply(send_json(request, body))

        identity.check_password(hub, address, nick, password, checked)

    return answer(request, start)


def who(request: Request, hub: Hub) -> bytes:
    found = login_of(request, hub)
    if found is None:
        return send_error(request, 401, "not-identified", "no log-in session: POST /api/session")
    account, login = found
    return send_json(request, {"nick": account.name, "expires": login.expires})


def log_out(request: Request, hub: Hub) -> bytes:
    token = credential(request)
    found = hub.accounts.login(token, hub.clock()) if token is not None else None
    clear_cookie(request)
    if found is None:
        return send_json(request, {"nick": None})
    account, login = found
    hub.accounts.revoke(login.token_hash)
    log_out_login(hub, login.token_hash)
    return send_json(request, {"nick": account.name})

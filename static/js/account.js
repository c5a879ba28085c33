// Accounts (register, log in over HTTP for the HttpOnly cookie, log out), the settings and
// the first visit's nick prompt.
import { KEYS, body, lastSession, query, sameNick, saved, state, ui } from "./base.js";
import { reconnectNow, send } from "./connection.js";
import { onError } from "./receive.js";
import { loginMessage } from "./view.js";

// --- accounts: register, log in, log out --------------------------------------------------

export function offerLogIn(nick) {
  if (nick) ui.loginNick.value = nick;
  ui.accountPanel.open = true;
  loginMessage(`${nick || "That nick"} is registered: log in with its password.`, "info");
}

export async function postSession(nick, password) {
  const response = await fetch("/api/session", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ nick, password }),
    credentials: "same-origin",
  });
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  return { ok: response.ok, status: response.status, answer };
}

ui.loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const nick = ui.loginNick.value.trim() || state.nick;
  const password = ui.loginPassword.value;
  if (!nick || !password) return loginMessage("Type your nick and password.");
  loginMessage("Logging in…", "info");
  let result;
  try {
    result = await postSession(nick, password);
  } catch {
    return loginMessage("Could not reach the server: try again.");
  }
  if (!result.ok) return loginMessage(result.answer.message || `Log-in refused (${result.status}).`);
  ui.loginPassword.value = "";
  loginMessage("");
  // The cookie is set now: a new connection is identified by it and gets the account's nick.
  state.wantNick = result.answer.nick || nick;
  reconnectNow();
  return undefined;
});

ui.registerButton.addEventListener("click", () => {
  const password = ui.loginPassword.value;
  if (password.length < 8) return loginMessage("A password has 8 to 128 characters.");
  loginMessage("Registering…", "info");
  const nick = state.nick;
  send(
    { op: "register", password },
    {
      onError: (error) => loginMessage(error.message || error.code),
      onReply: async (data) => {
        if (data.type !== "account") return;
        if (data.account) adoptGuestConversations(data.account);
        ui.loginPassword.value = "";
        loginMessage("");
        // A log-in session too, so that the cookie keeps this account across reloads.
        try {
          const result = await postSession(data.account || nick, password);
          if (result.ok) loginMessage(`Registered: ${data.account || nick} is yours, and this browser remembers it.`, "info");
          else loginMessage(`Registered, but not remembered here: ${result.answer.message || result.status}`);
        } catch {
          loginMessage("Registered, but not remembered here: log in after a reload.");
        }
      },
    },
  );
  return undefined;
});

// Registering, a guest becomes an account: its conversations in this browser go with it (a
// log-in does not take them: whoever logs in here next is not necessarily that guest).
function adoptGuestConversations(account) {
  const guestKey = `${KEYS.pms}.guest`;
  const accountKey = `${KEYS.pms}.account.${account.toLowerCase()}`;
  const guest = saved.get(guestKey, {}) || {};
  const kept = saved.get(accountKey, {}) || {};
  for (const [peer, messages] of Object.entries(guest)) {
    if (Array.isArray(messages)) kept[peer] = [...(Array.isArray(kept[peer]) ? kept[peer] : []), ...messages];
  }
  saved.set(accountKey, kept);
  saved.set(guestKey, {});
}

export async function logOut() {
  try {
    await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
  } catch {
    // the server is away: the op below still logs this connection out
  }
  if (state.account) send({ op: "logout" }, { show: false, onError: () => {} });
  loginMessage("");
}

ui.logoutButton.addEventListener("click", () => logOut());

// --- settings and the first visit ---------------------------------------------------------

export function applyQuiet() {
  const quiet = saved.get(KEYS.quiet, false) === true;
  ui.quietToggle.checked = quiet;
  body.classList.toggle("hide-presence", quiet);
}

ui.quietToggle.addEventListener("change", () => {
  saved.set(KEYS.quiet, ui.quietToggle.checked);
  applyQuiet();
});

// A first visit asks for a nick (a guest may skip it and keep guest-N).
export function offerNick() {
  const first = !saved.get(KEYS.visited, false) && !query.get("nick") && !lastSession.nick && !state.account;
  if (first && ui.welcomeForm.hidden && !ui.welcomeForm.dataset.done) {
    ui.welcomeForm.hidden = false;
    ui.welcomeNick.value = "";
  } else if (!first) {
    ui.welcomeForm.hidden = true;
  }
}

export function closeWelcome() {
  saved.set(KEYS.visited, true);
  ui.welcomeForm.hidden = true;
  ui.welcomeForm.dataset.done = "1";
}

ui.welcomeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const nick = ui.welcomeNick.value.trim();
  if (!nick) return;
  if (!sameNick(nick, state.nick)) send({ op: "nick", nick });
  closeWelcome();
  ui.messageInput.focus();
});

ui.welcomeSkip.addEventListener("click", () => {
  closeWelcome();
  ui.messageInput.focus();
});

// The WebSocket: connecting with the nick, rooms and since=ROOM:ID to resume, exponential
// backoff with a countdown, and requests matched to their replies by ref.
import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, ROOM_NAME, defaultRoom, lastSession, normalizeRoom, state, ui, wsPath } from "./base.js";
import { systemLine } from "./log.js";
import { onError, receive } from "./receive.js";

// --- the connection -----------------------------------------------------------------------

export function setStatus(kind, text) {
  ui.status.dataset.state = kind;
  ui.statusText.textContent = text;
  ui.retry.hidden = kind !== "offline";
}

export function hashTarget() {
  try {
    return decodeURIComponent(location.hash.slice(1)).trim();
  } catch {
    return ""; // a malformed %-escape in the address
  }
}

export function initialRoom() {
  const asked = normalizeRoom(hashTarget());
  return ROOM_NAME.test(asked) ? asked : null;
}

export function connectUrl() {
  let names = [...state.rooms.keys()];
  let current = state.current && state.rooms.has(state.current) ? state.current : null;
  if (!state.welcomed) {
    names = [...state.wantRooms];
    const asked = initialRoom();
    if (asked && !names.includes(asked)) names.push(asked);
    current = asked || (names.includes(lastSession.current) ? lastSession.current : null);
  }
  if (current) {
    // The server's current room is the last one joined: keep it the one on screen.
    names = names.filter((name) => name !== current);
    names.push(current);
  }
  if (!names.length) names.push(defaultRoom);
  const params = new URLSearchParams();
  if (state.wantNick) params.set("nick", state.wantNick);
  params.set("rooms", names.join(","));
  const since = names
    .filter((name) => state.rooms.get(name)?.lastId > 0)
    .map((name) => `${name}:${state.rooms.get(name).lastId}`);
  if (since.length) params.set("since", since.join(","));
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${wsPath}?${params}`;
}

export function connect() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdown);
  state.retryTimer = null;
  if (state.socket) return;
  setStatus("connecting", state.welcomed ? "reconnecting…" : "connecting…");
  const socket = new WebSocket(connectUrl());
  state.socket = socket;
  socket.addEventListener("message", (message) => {
    if (state.socket !== socket) return;
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return; // not ours to show: the server only sends JSON
    }
    receive(data);
  });
  socket.addEventListener("close", () => {
    if (state.socket !== socket) return;
    state.socket = null;
    state.pending.clear();
    clearInterval(state.pollTimer);
    scheduleReconnect();
  });
}

// A new connection at once (after logging in, so that the cookie identifies it).
export function reconnectNow() {
  const old = state.socket;
  state.socket = null;
  state.pending.clear();
  clearInterval(state.pollTimer);
  if (old) old.close(1000);
  state.attempt = 0;
  connect();
}

export function scheduleReconnect() {
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
  const jittered = Math.round(delay * (0.8 + 0.4 * Math.random()));
  state.attempt += 1;
  state.retryAt = Date.now() + jittered;
  state.retryTimer = setTimeout(connect, jittered);
  // The time left is counted down on screen, so "retrying in 8 s" is true a second later.
  const tick = () => {
    const seconds = Math.max(1, Math.ceil((state.retryAt - Date.now()) / 1000));
    setStatus("offline", `offline, retrying in ${seconds} s`);
  };
  clearInterval(state.countdown);
  tick();
  state.countdown = setInterval(tick, 250);
}

export function send(op, { show = true, quiet = !show, onError = null, onReply = null, older = false } = {}) {
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN || !state.nick) {
    if (show) systemLine("Not connected: nothing was sent. Try again in a moment.", "error");
    return false;
  }
  const ref = state.nextRef++;
  state.pending.set(ref, { show, quiet, onError, onReply, older, limit: op.limit });
  socket.send(JSON.stringify({ ...op, ref }));
  return true;
}

// The pending request a reply answers (and forget it: each ref gets exactly one reply).
export function answered(data) {
  if (data.ref == null) return null;
  const request = state.pending.get(data.ref) || null;
  state.pending.delete(data.ref);
  return request;
}

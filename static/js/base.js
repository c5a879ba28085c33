// The page's shared pieces: settings, the elements it drives, its state, storage, DOM helpers.
// Nothing here imports another module of the page, so it is ready before any of them runs.

export const BACKOFF_FIRST_MS = 500;
export const BACKOFF_MAX_MS = 30000;
export const ROOMS_POLL_MS = 30000;
export const NICK_RETRIES = 5;
export const MAX_LINES = 2000; // per room; older lines leave the page, they stay in history
export const MAX_TEXT = 4000; // characters (code points), as the server counts them
export const MAX_TEXT_LINES = 100;
export const COUNT_FROM = 3500; // the counter shows from here on, so it is not noise
export const TYPING_EVERY_MS = 3000; // the server drops sooner signals anyway
export const TYPING_SHOWN_MS = 5000;
export const OLDER_PAGE = 50;
export const PM_KEPT = 200; // per conversation, in localStorage
export const ROOM_NAME = /^#?[a-z0-9_-]{1,32}$/i;
export const NICK_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,23}$/;
export const GUEST_NICK = /^guest-\d+$/i;
export const KEYS = {
  session: "chathub.session",
  visited: "chathub.visited",
  quiet: "chathub.hide-presence",
  notify: "chathub.notify",
  pms: "chathub.pms",
};

export const body = document.body;
export const wsPath = body.dataset.wsPath || "/ws";
export const defaultRoom = body.dataset.defaultRoom || "lobby";
const $ = (id) => document.getElementById(id);
export const ui = {
  status: $("status"),
  statusText: $("status-text"),
  retry: $("retry-button"),
  roomList: $("room-list"),
  convoList: $("convo-list"),
  convoPanel: $("convo-panel"),
  joinForm: $("join-form"),
  joinInput: $("join-input"),
  nickForm: $("nick-form"),
  nickInput: $("nick-input"),
  accountPanel: $("account-panel"),
  whoami: $("whoami"),
  loginForm: $("login-form"),
  loginNick: $("login-nick"),
  loginPassword: $("login-password"),
  registerButton: $("register-button"),
  logoutButton: $("logout-button"),
  loginMessage: $("login-message"),
  settings: $("settings-panel"),
  quietToggle: $("quiet-toggle"),
  notifyButton: $("notify-button"),
  welcomeForm: $("welcome-form"),
  welcomeNick: $("welcome-nick"),
  welcomeSkip: $("welcome-skip"),
  roomTitle: $("room-title"),
  roomMeta: $("room-meta"),
  part: $("part-button"),
  log: $("log"),
  jump: $("jump-button"),
  typing: $("typing"),
  messageForm: $("message-form"),
  messageInput: $("message-input"),
  sendButton: $("send-button"),
  charCount: $("char-count"),
  membersPanel: $("members-panel"),
  memberList: $("member-list"),
  memberCount: $("member-count"),
};

// --- what survives a reload ---------------------------------------------------------------

export const saved = {
  get(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw == null ? fallback : JSON.parse(raw);
    } catch {
      return fallback; // storage turned off, or a damaged value: start afresh
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch {
      // full or turned off: the page works without it
    }
  },
};

export const normalizeRoom = (name) => String(name).trim().replace(/^#/, "").toLowerCase();
export const sameNick = (a, b) => a != null && b != null && a.toLowerCase() === b.toLowerCase();
export const byNick = (a, b) => a.toLowerCase().localeCompare(b.toLowerCase());
export const convoKey = (nick) => "@" + nick.toLowerCase();
export const isConvo = (key) => typeof key === "string" && key.startsWith("@");

export const query = new URLSearchParams(location.search);
export const lastSession = saved.get(KEYS.session, {}) || {};
export const roomsFrom = (list) => list.map(normalizeRoom).filter((name) => ROOM_NAME.test(name));

export const state = {
  socket: null,
  nick: null, // the nick the server says we have
  account: null, // the account this connection is identified as, or null
  wantNick: query.get("nick") || (typeof lastSession.nick === "string" ? lastSession.nick : null),
  wantRooms: roomsFrom((query.get("rooms") || "").split(",")),
  rooms: new Map(), // joined rooms, in join order: name -> room record
  convos: new Map(), // "@nick" -> private conversation record
  current: null, // the view on screen: a room name, "@nick" for a conversation, or null
  directory: new Map(), // name -> member count, from the last `rooms` answer
  welcomed: false, // true once any connection got its welcome
  attempt: 0,
  retryTimer: null,
  countdown: null,
  retryAt: 0,
  pollTimer: null,
  nextRef: 1,
  pending: new Map(), // ref -> {show, quiet, onError, onReply}
  serverPms: false, // the server keeps an identified user's private messages
};
if (!state.wantRooms.length && Array.isArray(lastSession.rooms)) {
  state.wantRooms = roomsFrom(lastSession.rooms.filter((name) => typeof name === "string"));
}

export function saveSession() {
  const nick = state.nick && !GUEST_NICK.test(state.nick) ? state.nick : state.wantNick;
  saved.set(KEYS.session, {
    nick: nick && !GUEST_NICK.test(nick) ? nick : null,
    rooms: [...state.rooms.keys()],
    current: state.current,
  });
}

// --- small helpers ----------------------------------------------------------------------

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

export function hidden(text) {
  return el("span", "visually-hidden", text);
}

export const plural = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;

// Ten hues far enough apart to tell nicks apart at a glance; FNV-1a picks one per nick.
export const HUES = [0, 25, 45, 130, 165, 195, 215, 255, 285, 320];
export function nickHue(nick) {
  let hash = 0x811c9dc5;
  for (const ch of nick.toLowerCase()) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return HUES[hash % HUES.length];
}

export function nickEl(nick) {
  const node = el("span", "nick", nick);
  node.style.setProperty("--hue", String(nickHue(nick)));
  if (sameNick(nick, state.nick)) node.classList.add("me");
  return node;
}

// The sender of a message: its nick, and a "bot" tag for what a script published.
export function senderEl(event) {
  if (!event.bot) return nickEl(event.nick);
  const node = el("span", "sender");
  const tag = el("span", "tag bot", "bot");
  tag.title = "published by a script";
  node.append(nickEl(event.nick), " ", tag);
  return node;
}

export const dayKey = (when) => `${when.getFullYear()}-${when.getMonth() + 1}-${when.getDate()}`;
export const fullDate = (when) => when.toLocaleString([], { dateStyle: "full", timeStyle: "medium" });

export function dated(item, ts) {
  const when = new Date((ts || Date.now() / 1000) * 1000);
  item.dataset.ts = String(when.getTime() / 1000);
  item.dataset.day = dayKey(when);
  return item;
}

// The time of a line; its title is the full date (and the id, which is also shown on hover).
export function timeEl(ts, id = null) {
  const when = new Date((ts || Date.now() / 1000) * 1000);
  const node = el("time", "", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }));
  node.dateTime = when.toISOString();
  node.title = id == null ? fullDate(when) : `#${id} · ${fullDate(when)}`;
  if (id != null) node.append(el("span", "msg-id", ` #${id}`));
  return node;
}

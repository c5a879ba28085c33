// What the server sends, by type: the welcome, accounts, listings, history and errors;
// each handler updates the state and redraws what changed.
import { offerLogIn, offerNick } from "./account.js";
import { NICK_RETRIES, OLDER_PAGE, ROOMS_POLL_MS, dated, el, lastSession, plural, sameNick, saveSession, state, ui } from "./base.js";
import { answered, initialRoom, send, setStatus } from "./connection.js";
import { askConversations, forgetConvos, loadSavedPms, onPmHistory, onPrivate } from "./convos.js";
import { noteCount, onEvent } from "./events.js";
import { addMessage, currentView, fromEnd, makeRoom, placeDays, systemLine } from "./log.js";
import { renderAccount, renderMembers, renderRooms, showView } from "./view.js";

// --- what the server sends ----------------------------------------------------------------

export function receive(data) {
  const request = answered(data);
  const show = request ? request.show : true;
  if (request && request.onReply && data.type !== "error") request.onReply(data);
  switch (data.type) {
    case "welcome":
      return onWelcome(data);
    case "event":
      return onEvent(data);
    case "who":
      return onWho(data, request !== null && show);
    case "rooms":
      return onRooms(data, request !== null && show);
    case "history":
      return onHistory(data, request);
    case "pm":
      return onPrivate(data);
    case "pm_history":
      return onPmHistory(data);
    case "account":
      return onAccount(data);
    case "topic":
      return onTopicReply(data);
    case "modes":
      return systemLine(data.modes ? `modes of #${data.room}: ${data.modes}` : `#${data.room} has no modes set`);
    case "bans":
      return onBans(data);
    case "invite":
      return systemLine(`${data.from} invited you to #${data.room}; /join ${data.room}`);
    case "error":
      return onError(data, request);
    case "notice":
      return systemLine(String(data.text || ""));
    default:
      return undefined; // `ok`, or something newer than this page: nothing to show
  }
}

export function onError(data, request) {
  if (request && request.onError) return request.onError(data);
  if (request && request.quiet) return undefined;
  if (data.code === "nick-registered" || data.code === "nick-taken" || data.code === "bad-nick") {
    ui.nickInput.value = state.nick || ""; // the box shows the nick we really have
    if (data.code === "nick-registered") offerLogIn(data.nick);
  }
  return systemLine(data.message || data.code || "error", "error");
}

export function onWelcome(data) {
  const again = state.welcomed;
  state.welcomed = true;
  state.attempt = 0;
  state.nick = data.nick;
  const accountChanged = (data.account || null) !== state.account;
  state.account = data.account || null;
  ui.nickInput.value = data.nick;
  if (state.wantNick && !sameNick(state.wantNick, data.nick) && !state.account) {
    retryNick(state.wantNick, NICK_RETRIES); // our old connection may still hold it
  } else {
    state.wantNick = data.nick;
  }
  for (const name of data.rooms || []) {
    const room = state.rooms.get(name) || makeRoom(name);
    if (again) systemLine("reconnected", "notice marker", room.list);
  }
  for (const [name, topic] of Object.entries(data.topics || {})) {
    const room = state.rooms.get(name);
    if (room) room.topic = String(topic);
  }
  setStatus("connected", `connected as ${data.nick}`);
  if (!again || accountChanged) {
    forgetConvos();
    loadSavedPms();
  }
  if (state.current === null || !currentView()) {
    const names = [...state.rooms.keys()];
    const asked = initialRoom();
    const last = lastSession.current;
    let key = names[names.length - 1] ?? null;
    if (asked && names.includes(asked)) key = asked;
    else if (!again && last && (names.includes(last) || state.convos.has(last))) key = last;
    showView(key);
  }
  if (!again && data.motd) systemLine(data.motd, "notice motd");
  for (const name of state.rooms.keys()) send({ op: "who", room: name }, { show: false });
  send({ op: "rooms" }, { show: false });
  askConversations();
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(() => send({ op: "rooms" }, { show: false }), ROOMS_POLL_MS);
  renderAccount();
  renderMembers();
  saveSession();
  offerNick();
}

export function retryNick(nick, left) {
  setTimeout(() => {
    if (sameNick(state.nick, nick) || !state.socket) return;
    send(
      { op: "nick", nick },
      {
        show: false,
        onError: (error) => {
          if (error.code === "nick-taken" && left > 1) return retryNick(nick, left - 1);
          state.wantNick = state.nick;
          ui.nickInput.value = state.nick;
          if (error.code === "nick-registered") offerLogIn(nick);
          systemLine(`Could not get back the nick ${nick}: ${error.message}`, "error");
        },
      },
    );
  }, 1000);
}

export function onAccount(data) {
  state.account = data.account || null;
  if (data.nick && !sameNick(data.nick, state.nick)) {
    state.nick = data.nick;
    ui.nickInput.value = data.nick;
  }
  state.wantNick = state.nick;
  setStatus("connected", `connected as ${state.nick}`);
  systemLine(state.account ? `you are identified as ${state.account}` : "you are no longer identified");
  forgetConvos();
  loadSavedPms();
  askConversations();
  renderAccount();
  renderMembers();
  saveSession();
}


export function onWho(data, show) {
  const room = state.rooms.get(data.room);
  const members = data.members || [];
  if (room) {
    room.members = new Set(members);
    room.synced = true;
    noteCount(room);
    renderRooms();
    if (room.name === state.current) renderMembers();
  }
  if (show) systemLine(`people in #${data.room}: ${members.join(", ") || "nobody"}`);
}

export function onRooms(data, show) {
  state.directory = new Map((data.rooms || []).map((room) => [room.name, room.members]));
  for (const room of state.rooms.values()) noteCount(room);
  renderRooms();
  // The list holds the busiest rooms only: say how many there are in all.
  const total = Number(data.total) || 0;
  const listed = (data.rooms || []).length;
  const note = document.getElementById("room-total");
  if (note) {
    note.hidden = total <= listed;
    note.firstChild.textContent = `The busiest ${listed} of ${total} rooms; `;
  }
  if (show) {
    const listing = (data.rooms || []).map((room) => `#${room.name} (${room.members})`);
    systemLine(`rooms: ${listing.join(", ") || "none"}`);
  }
}

export function onHistory(data, request) {
  const events = (data.events || []).filter((event) => event.kind === "message" || event.kind === "action");
  const room = state.rooms.get(data.room);
  const older = request && request.older;
  const below = fromEnd(); // what lies below the lines being read
  for (const event of events) addMessage({ ...event, room: event.room || data.room }, false);
  if (older && room) {
    placeDays();
    // Keep the lines being read where they were: the older ones grew the log above them.
    if (!room.list.hidden) ui.log.scrollTop += fromEnd() - below;
    room.older = events.length < request.limit ? "done" : "idle";
    if (room.older === "done" && !room.list.querySelector(".history-start")) {
      const start = dated(el("li", "line notice history-start"), events[0]?.ts ?? Number(room.list.querySelector("li[data-ts]")?.dataset.ts));
      start.append(el("span", "text", `the beginning of #${room.name}`));
      room.list.prepend(start);
    }
    return;
  }
  if (request !== null && request.show) {
    const where = state.rooms.has(data.room) ? "" : " (join the room to read them)";
    systemLine(`${plural(data.events ? data.events.length : 0, "stored message")} of #${data.room}${where}`);
  }
}

export function onTopicReply(data) {
  const room = state.rooms.get(data.room);
  if (room) {
    room.topic = String(data.topic || "");
    renderMembers();
  }
  const by = data.by ? ` (set by ${data.by})` : "";
  systemLine(data.topic ? `topic of #${data.room}: ${data.topic}${by}` : `#${data.room} has no topic`);
}

export function onBans(data) {
  const bans = data.bans || [];
  const where = data.room ? `bans of #${data.room}` : "server bans";
  if (!bans.length) return systemLine(`${where}: none`);
  systemLine(`${where}:`);
  for (const ban of bans) {
    const until = ban.until ? ` until ${new Date(ban.until * 1000).toLocaleString()}` : "";
    systemLine(`  ${ban.mask} by ${ban.by}${until}${ban.reason ? ": " + ban.reason : ""}`);
  }
  return undefined;
}

// Scrolling to the top of a room asks for the page of messages before the oldest shown.
export function loadOlder() {
  const view = currentView();
  if (!view || view.kind !== "room" || view.older !== "idle") return;
  const oldest = view.list.querySelector(":scope > li[data-id]");
  if (!oldest) return;
  const before = Number(oldest.dataset.id);
  if (before <= 1) {
    view.older = "done";
    return;
  }
  const request = { op: "history", room: view.name, before, limit: OLDER_PAGE };
  const asked = send(request, {
    show: false,
    older: true,
    onError: () => {
      view.older = "done";
    },
  });
  if (asked) view.older = "loading";
}

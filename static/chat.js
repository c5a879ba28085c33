// chathub's chat page: one WebSocket to /ws speaking the JSON protocol of PROTOCOL.md.
//
// Rules:
// - Text from the server (anyone's nick, message, room name) reaches the page only through
//   textContent and attributes, never innerHTML: what a user types is shown as text.
// - A message with an id is shown once per room: de-duplicated by id and inserted in id order,
//   so a replay after a reconnect can overlap what was already seen.
// - A lost connection is retried with exponential backoff (with jitter), keeping the nick and
//   the rooms, and passing since=ROOM:ID (the last id seen per room) so that exactly the
//   missed messages come back.
// - No build step, no dependencies: plain modern JavaScript, loaded with `defer`.
"use strict";

(() => {
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const ROOMS_POLL_MS = 30000;
  const NICK_RETRIES = 5;
  const MAX_LINES = 2000; // per room; older lines leave the page, they stay in history
  const ROOM_NAME = /^#?[a-z0-9_-]{1,32}$/i;

  const body = document.body;
  const wsPath = body.dataset.wsPath || "/ws";
  const defaultRoom = body.dataset.defaultRoom || "lobby";
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"),
    statusText: $("status-text"),
    retry: $("retry-button"),
    roomList: $("room-list"),
    joinForm: $("join-form"),
    joinInput: $("join-input"),
    nickForm: $("nick-form"),
    nickInput: $("nick-input"),
    roomTitle: $("room-title"),
    roomMeta: $("room-meta"),
    part: $("part-button"),
    log: $("log"),
    messageForm: $("message-form"),
    messageInput: $("message-input"),
    membersPanel: $("members-panel"),
    memberList: $("member-list"),
    memberCount: $("member-count"),
  };

  const state = {
    socket: null,
    nick: null, // the nick the server says we have
    wantNick: null, // the nick to ask for on (re)connect
    rooms: new Map(), // joined rooms, in join order: name -> room record
    current: null, // the room on screen
    directory: new Map(), // name -> member count, from the last `rooms` answer
    welcomed: false, // true once any connection got its welcome
    attempt: 0,
    retryTimer: null,
    retryAt: 0,
    pollTimer: null,
    nextRef: 1,
    pending: new Map(), // ref -> {show, onError}
  };

  // --- small helpers ----------------------------------------------------------------------

  const normalizeRoom = (name) => name.trim().replace(/^#/, "").toLowerCase();
  const sameNick = (a, b) => a != null && b != null && a.toLowerCase() === b.toLowerCase();
  const byNick = (a, b) => a.toLowerCase().localeCompare(b.toLowerCase());

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function hidden(text) {
    return el("span", "visually-hidden", text);
  }

  // Ten hues far enough apart to tell nicks apart at a glance; FNV-1a picks one per nick.
  const HUES = [0, 25, 45, 130, 165, 195, 215, 255, 285, 320];
  function nickHue(nick) {
    let hash = 0x811c9dc5;
    for (const ch of nick.toLowerCase()) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
    return HUES[hash % HUES.length];
  }

  function nickEl(nick) {
    const node = el("span", "nick", nick);
    node.style.setProperty("--hue", String(nickHue(nick)));
    if (sameNick(nick, state.nick)) node.classList.add("me");
    return node;
  }

  function timeEl(ts) {
    const when = new Date((ts || Date.now() / 1000) * 1000);
    const node = el("time", "", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }));
    node.dateTime = when.toISOString();
    node.title = when.toLocaleString();
    return node;
  }

  // --- the log ------------------------------------------------------------------------------

  const noRoomList = el("ol", "lines");
  noRoomList.hidden = true;
  ui.log.append(noRoomList);

  function makeRoom(name) {
    const list = el("ol", "lines");
    list.hidden = true;
    list.dataset.room = name;
    ui.log.append(list);
    const room = { name, members: new Set(), lastId: 0, ids: new Set(), unread: 0, list, fresh: true };
    state.rooms.set(name, room);
    return room;
  }

  function dropRoom(name) {
    const room = state.rooms.get(name);
    if (!room) return;
    room.list.remove();
    state.rooms.delete(name);
    if (state.current === name) {
      const names = [...state.rooms.keys()];
      showRoom(names.length ? names[names.length - 1] : null);
    }
  }

  function nearBottom() {
    return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 48;
  }

  function addLine(list, item, beforeNode = null) {
    const stick = nearBottom();
    list.insertBefore(item, beforeNode);
    while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
    if (stick && !list.hidden) ui.log.scrollTop = ui.log.scrollHeight;
  }

  function currentList() {
    return state.current ? state.rooms.get(state.current).list : noRoomList;
  }

  // A line from the server or the page itself (a notice, an error, a listing, a pm).
  function systemLine(text, kind = "notice", list = currentList(), ts = null) {
    const item = el("li", `line ${kind}`);
    item.append(timeEl(ts), el("span", "text", text));
    addLine(list, item);
    return item;
  }

  function messageLine(event) {
    const mine = sameNick(event.nick, state.nick);
    const item = el("li", `line ${event.kind}${mine ? " mine" : ""}`);
    item.dataset.id = String(event.id);
    item.append(timeEl(event.ts));
    if (event.kind === "action") {
      const text = el("span", "text");
      text.append("* ", nickEl(event.nick), " " + event.text);
      item.append(text);
    } else {
      item.append(nickEl(event.nick), el("span", "text", event.text));
    }
    return item;
  }

  // Show a stored message unless this room already shows its id; `live` counts it as unread.
  function addMessage(event, live) {
    const room = state.rooms.get(event.room);
    if (!room || typeof event.id !== "number" || room.ids.has(event.id)) return;
    room.ids.add(event.id);
    const item = messageLine(event);
    if (event.id > room.lastId) {
      const caughtUp = room.lastId > 0; // a replay after a reconnect is news too
      room.lastId = event.id;
      addLine(room.list, item);
      if (isElsewhere(room) && (live || caughtUp) && !sameNick(event.nick, state.nick)) {
        room.unread += 1;
        renderRooms();
      }
    } else {
      // An older message (from /history): put it in id order among the ones shown.
      const later = [...room.list.children].find((node) => Number(node.dataset.id) > event.id);
      addLine(room.list, item, later || null);
    }
  }

  function isElsewhere(room) {
    return room.name !== state.current || document.hidden;
  }

  // --- what is on screen --------------------------------------------------------------------

  function showRoom(name) {
    state.current = name;
    for (const room of state.rooms.values()) room.list.hidden = room.name !== name;
    noRoomList.hidden = name !== null;
    if (name === null) {
      ui.roomTitle.textContent = "No room";
      if (!noRoomList.childElementCount) {
        systemLine("You are in no room. Join one from the list, or type /join ROOM.");
      }
    } else {
      const room = state.rooms.get(name);
      room.unread = 0;
      ui.roomTitle.textContent = "#" + name;
      ui.messageInput.placeholder = `Message #${name}, or /help`;
      history.replaceState(null, "", "#" + name);
    }
    ui.part.hidden = name === null;
    ui.log.scrollTop = ui.log.scrollHeight;
    renderRooms();
    renderMembers();
  }

  function renderTitle() {
    let unread = 0;
    for (const room of state.rooms.values()) unread += room.unread;
    const where = state.current ? `#${state.current} · chathub` : "chathub";
    document.title = unread ? `(${unread}) ${where}` : where;
  }

  function renderRooms() {
    const names = [...state.rooms.keys()];
    const others = [...state.directory.keys()].filter((name) => !state.rooms.has(name));
    const items = [];
    for (const name of [...names, ...others]) {
      const room = state.rooms.get(name);
      const count = room ? room.members.size : state.directory.get(name) || 0;
      const button = el("button", "room" + (room ? " joined" : ""));
      button.type = "button";
      button.dataset.room = name;
      if (name === state.current) button.setAttribute("aria-current", "true");
      button.append(el("span", "room-name", "#" + name));
      const members = el("span", "count");
      members.title = "people here";
      members.append(hidden(", people here: "), String(count));
      button.append(members);
      if (room && room.unread) {
        const badge = el("span", "badge");
        badge.append(hidden(", unread: "), String(room.unread));
        button.append(badge);
      }
      if (!room) button.append(hidden(" (not joined)"));
      const item = el("li");
      item.append(button);
      items.push(item);
    }
    if (!items.length) items.push(el("li", "empty", "No rooms yet."));
    ui.roomList.replaceChildren(...items);
    renderTitle();
  }

  function renderMembers() {
    const room = state.current ? state.rooms.get(state.current) : null;
    const members = room ? [...room.members].sort(byNick) : [];
    ui.memberCount.textContent = room ? String(members.length) : "";
    ui.roomMeta.textContent = room ? `${members.length} here` : "";
    ui.memberList.replaceChildren(
      ...members.map((nick) => {
        const item = el("li");
        item.append(nickEl(nick));
        if (sameNick(nick, state.nick)) item.append(el("span", "you", " (you)"));
        return item;
      }),
    );
  }

  function noteCount(name) {
    const room = state.rooms.get(name);
    if (room) state.directory.set(name, room.members.size);
  }

  // --- the connection -----------------------------------------------------------------------

  function setStatus(kind, text) {
    ui.status.dataset.state = kind;
    ui.statusText.textContent = text;
    ui.retry.hidden = kind !== "offline";
  }

  function connectUrl() {
    const names = [...state.rooms.keys()];
    if (state.current) {
      // The server's current room is the last one joined: keep it the one on screen.
      names.splice(names.indexOf(state.current), 1);
      names.push(state.current);
    }
    if (!names.length) names.push(initialRoom());
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

  function initialRoom() {
    let asked = "";
    try {
      asked = normalizeRoom(decodeURIComponent(location.hash.slice(1)));
    } catch {
      // a malformed %-escape in the address: fall back to the default room
    }
    return ROOM_NAME.test(asked) ? asked : defaultRoom;
  }

  function connect() {
    clearTimeout(state.retryTimer);
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

  function scheduleReconnect() {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
    const jittered = Math.round(delay * (0.8 + 0.4 * Math.random()));
    state.attempt += 1;
    state.retryAt = Date.now() + jittered;
    state.retryTimer = setTimeout(connect, jittered);
    const seconds = Math.max(1, Math.round(jittered / 1000));
    setStatus("offline", `offline, retrying in ${seconds} s`);
  }

  function send(op, { show = true, onError = null } = {}) {
    const socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || !state.nick) {
      if (show) systemLine("Not connected: nothing was sent. Try again in a moment.", "error");
      return false;
    }
    const ref = state.nextRef++;
    state.pending.set(ref, { show, onError });
    socket.send(JSON.stringify({ ...op, ref }));
    return true;
  }

  // The pending request a reply answers (and forget it: each ref gets exactly one reply).
  function answered(data) {
    if (data.ref == null) return null;
    const request = state.pending.get(data.ref) || null;
    state.pending.delete(data.ref);
    return request;
  }

  // --- what the server sends ----------------------------------------------------------------

  function receive(data) {
    const request = answered(data);
    const show = request ? request.show : true;
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
        return onHistory(data, request !== null && show);
      case "pm":
        return onPrivate(data);
      case "error":
        if (request && request.onError) return request.onError(data);
        return systemLine(data.message || data.code || "error", "error");
      case "notice":
        return systemLine(String(data.text || ""));
      default:
        return undefined; // `ok`, or something newer than this page: nothing to show
    }
  }

  function onWelcome(data) {
    const again = state.welcomed;
    state.welcomed = true;
    state.attempt = 0;
    state.nick = data.nick;
    ui.nickInput.value = data.nick;
    if (state.wantNick && !sameNick(state.wantNick, data.nick)) {
      retryNick(state.wantNick, NICK_RETRIES); // our old connection may still hold it
    } else {
      state.wantNick = data.nick;
    }
    for (const name of data.rooms || []) {
      const room = state.rooms.get(name) || makeRoom(name);
      if (again) systemLine("reconnected", "notice marker", room.list);
    }
    setStatus("connected", `connected as ${data.nick}`);
    if (state.current === null || !state.rooms.has(state.current)) {
      const names = [...state.rooms.keys()];
      showRoom(names.includes(initialRoom()) ? initialRoom() : names[names.length - 1] ?? null);
    }
    if (!again && data.motd) systemLine(data.motd, "notice motd");
    for (const name of state.rooms.keys()) send({ op: "who", room: name }, { show: false });
    send({ op: "rooms" }, { show: false });
    clearInterval(state.pollTimer);
    state.pollTimer = setInterval(() => send({ op: "rooms" }, { show: false }), ROOMS_POLL_MS);
  }

  function retryNick(nick, left) {
    setTimeout(() => {
      if (sameNick(state.nick, nick) || !state.socket) return;
      send(
        { op: "nick", nick },
        {
          show: false,
          onError: (error) => {
            if (error.code === "nick-taken" && left > 1) return retryNick(nick, left - 1);
            state.wantNick = state.nick;
            systemLine(`Could not get back the nick ${nick}: ${error.message}`, "error");
          },
        },
      );
    }, 1000);
  }

  function onEvent(event) {
    switch (event.kind) {
      case "message":
      case "action":
        return addMessage(event, true);
      case "join":
        return onJoin(event);
      case "part":
        return onPart(event);
      case "nick":
        return onNick(event);
      default: {
        const room = state.rooms.get(event.room);
        return systemLine(String(event.text || ""), "notice", room ? room.list : currentList(), event.ts);
      }
    }
  }

  // A join or part may name several nicks (a crowd arriving at once): `nicks` lists them all.
  function nicksOf(event) {
    return Array.isArray(event.nicks) ? event.nicks.map(String) : [String(event.nick)];
  }

  function namesText(nicks) {
    if (nicks.length <= 4) return nicks.length === 1 ? nicks[0] : `${nicks.slice(0, -1).join(", ")} and ${nicks[nicks.length - 1]}`;
    return `${nicks.slice(0, 3).join(", ")} and ${nicks.length - 3} others`;
  }

  function onJoin(event) {
    const nicks = nicksOf(event);
    const mine = nicks.some((nick) => sameNick(nick, state.nick));
    let room = state.rooms.get(event.room);
    if (!room) {
      if (!mine) return;
      room = makeRoom(event.room); // a room we just joined: show it
      showRoom(room.name);
    }
    for (const nick of nicks) room.members.add(nick);
    const others = nicks.filter((nick) => !sameNick(nick, state.nick));
    if (mine && room.fresh) systemLine(`you joined #${room.name}`, "notice join", room.list, event.ts);
    if (others.length) systemLine(`${namesText(others)} joined`, "notice join", room.list, event.ts);
    room.fresh = false;
    noteCount(room.name);
    renderRooms();
    if (room.name === state.current) renderMembers();
  }

  function onPart(event) {
    const room = state.rooms.get(event.room);
    if (!room) return;
    const nicks = nicksOf(event);
    if (nicks.some((nick) => sameNick(nick, state.nick))) {
      for (const nick of nicks) room.members.delete(nick);
      noteCount(room.name);
      dropRoom(room.name);
      systemLine(`you left #${room.name}`, "notice part");
      renderRooms();
      return;
    }
    for (const nick of nicks) room.members.delete(nick);
    const why = event.text ? ` (${event.text})` : "";
    systemLine(`${namesText(nicks)} left${why}`, "notice part", room.list, event.ts);
    noteCount(room.name);
    renderRooms();
    if (room.name === state.current) renderMembers();
  }

  function onNick(event) {
    const old = event.old;
    const mine = sameNick(old, state.nick);
    if (mine) {
      state.nick = event.nick;
      state.wantNick = event.nick;
      ui.nickInput.value = event.nick;
      setStatus("connected", `connected as ${event.nick}`);
    }
    const text = mine ? `you are now known as ${event.nick}` : `${old} is now known as ${event.nick}`;
    let shown = false;
    for (const room of state.rooms.values()) {
      const holder = [...room.members].find((nick) => sameNick(nick, old));
      if (holder === undefined) continue;
      room.members.delete(holder);
      room.members.add(event.nick);
      systemLine(text, "notice nick", room.list, event.ts);
      shown = true;
    }
    if (!shown) systemLine(text, "notice nick", currentList(), event.ts);
    renderMembers();
  }

  function onWho(data, show) {
    const room = state.rooms.get(data.room);
    const members = data.members || [];
    if (room) {
      room.members = new Set(members);
      noteCount(room.name);
      renderRooms();
      if (room.name === state.current) renderMembers();
    }
    if (show) systemLine(`people in #${data.room}: ${members.join(", ") || "nobody"}`);
  }

  function onRooms(data, show) {
    state.directory = new Map((data.rooms || []).map((room) => [room.name, room.members]));
    for (const name of state.rooms.keys()) noteCount(name);
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

  function onHistory(data, show) {
    const events = data.events || [];
    for (const event of events) {
      if (event.kind === "message" || event.kind === "action") {
        addMessage({ ...event, room: event.room || data.room }, false);
      }
    }
    if (show) {
      const where = state.rooms.has(data.room) ? "" : " (join the room to read them)";
      systemLine(`${events.length} stored messages of #${data.room}${where}`);
    }
  }

  function onPrivate(data) {
    const outgoing = sameNick(data.from, state.nick) && !sameNick(data.to, state.nick);
    const item = el("li", "line pm");
    const label = outgoing ? `private to ${data.to}` : "private";
    item.append(timeEl(data.ts), el("span", "tag", label), nickEl(data.from), el("span", "text", data.text));
    addLine(currentList(), item);
  }

  // --- what the user does -------------------------------------------------------------------

  const HELP = [
    "text: say it in this room (//text says /text)",
    "/nick NAME: change your nick",
    "/join ROOM: join a room and show it",
    "/part [ROOM] [REASON]: leave a room (default: this one)",
    "/me ACTION: act in this room",
    "/msg NICK TEXT: send a private message",
    "/who [ROOM]: list who is in a room",
    "/rooms: list the rooms",
    "/history [N]: fetch the last N messages of this room",
    "/since ID: fetch the messages of this room after id ID",
    "Alt+Up / Alt+Down: previous / next room",
  ];

  function needRoom() {
    if (state.current) return state.current;
    systemLine("You are in no room: /join one first.", "error");
    return null;
  }

  function joinRoom(name) {
    const room = normalizeRoom(name);
    if (!ROOM_NAME.test(room)) {
      systemLine(`"${name}" is not a room name: 1 to 32 of a-z, 0-9, _ and -.`, "error");
      return true;
    }
    if (state.rooms.has(room)) {
      showRoom(room);
      return true;
    }
    return send({ op: "join", room });
  }

  // What shows nothing where a line starts: spaces, controls, zero-width and bidi marks, a BOM,
  // combining marks with nothing to sit on, blank letters. A line is a command when its first
  // visible character is "/", as on telnet, so a pasted "\u200b/msg bob secret" stays private.
  const HIDDEN_START = /^[\s\p{C}\p{Z}\p{Mn}\p{Me}\u115f\u1160\u3164\uffa0\u2800]+/u;

  // Run what the user typed; false when it could not be sent (so the text stays in the box).
  function submit(typed) {
    const text = typed.replace(HIDDEN_START, "");
    if (!text.trim()) return true;
    if (!text.startsWith("/") || text.startsWith("//")) {
      const room = needRoom();
      return room ? send({ op: "say", room, text: text.startsWith("//") ? text.slice(1) : typed }) : true;
    }
    const [, command, rest = ""] = /^\/(\S+)\s*([\s\S]*)$/.exec(text) || [];
    const arg = rest.trim();
    const words = arg ? arg.split(/\s+/) : [];
    const usage = (line) => (systemLine("usage: " + line, "error"), true);
    switch ((command || "").toLowerCase()) {
      case "nick":
        return words.length === 1 ? send({ op: "nick", nick: words[0] }) : usage("/nick NAME");
      case "join":
      case "j":
        return words.length === 1 ? joinRoom(words[0]) : usage("/join ROOM");
      case "part":
      case "leave": {
        const room = words.length ? normalizeRoom(words[0]) : needRoom();
        if (!room) return true;
        const reason = words.slice(1).join(" ");
        return send(reason ? { op: "part", room, reason } : { op: "part", room });
      }
      case "me": {
        const room = needRoom();
        if (!room) return true;
        return arg ? send({ op: "me", room, text: arg }) : usage("/me ACTION");
      }
      case "msg": {
        const match = /^(\S+)\s+([\s\S]+)$/.exec(arg);
        return match ? send({ op: "msg", to: match[1], text: match[2] }) : usage("/msg NICK TEXT");
      }
      case "who": {
        const room = words.length ? normalizeRoom(words[0]) : needRoom();
        return room ? send({ op: "who", room }) : true;
      }
      case "rooms":
      case "list":
        return send({ op: "rooms" });
      case "history": {
        const room = needRoom();
        if (!room) return true;
        if (words.length && !/^\d+$/.test(words[0])) return usage("/history [N]");
        return send(words.length ? { op: "history", room, limit: Number(words[0]) } : { op: "history", room });
      }
      case "since": {
        if (!words.length || !/^\d+$/.test(words[0])) return usage("/since ID [ROOM]");
        const room = words[1] ? normalizeRoom(words[1]) : needRoom();
        return room ? send({ op: "history", room, since: Number(words[0]) }) : true;
      }
      case "help":
        for (const line of HELP) systemLine(line);
        return true;
      default:
        systemLine(`unknown command /${command || ""}: /help lists them`, "error");
        return true;
    }
  }

  ui.messageForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submit(ui.messageInput.value)) ui.messageInput.value = "";
  });

  ui.messageInput.addEventListener("keydown", (event) => {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    const names = [...state.rooms.keys()];
    if (!names.length) return;
    event.preventDefault();
    const step = event.key === "ArrowUp" ? -1 : 1;
    const index = names.indexOf(state.current);
    showRoom(names[(index + step + names.length) % names.length]);
  });

  ui.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (joinRoom(ui.joinInput.value)) ui.joinInput.value = "";
    ui.messageInput.focus();
  });

  ui.nickForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = ui.nickInput.value.trim();
    if (nick && !sameNick(nick, state.nick)) send({ op: "nick", nick });
  });

  ui.roomList.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-room]");
    if (!button) return;
    joinRoom(button.dataset.room);
    ui.messageInput.focus();
  });

  ui.part.addEventListener("click", () => {
    if (state.current) send({ op: "part", room: state.current });
  });

  // The skip link moves focus without touching location.hash (which names the room on screen).
  document.querySelector(".skip")?.addEventListener("click", (event) => {
    event.preventDefault();
    ui.messageInput.focus();
  });

  ui.retry.addEventListener("click", () => connect());
  window.addEventListener("online", () => state.socket || connect());
  document.addEventListener("visibilitychange", () => {
    // Coming back to a tab with unread messages in the room on screen: they are read now.
    const room = state.current && state.rooms.get(state.current);
    if (!document.hidden && room && room.unread) {
      room.unread = 0;
      renderRooms();
    }
  });

  // Phones: the member list starts folded so the messages get the screen.
  if (window.matchMedia("(max-width: 720px)").matches) ui.membersPanel.open = false;

  // For tests and the curious: `chathub.socket.close()` forces a reconnect.
  window.chathub = {
    get socket() {
      return state.socket;
    },
    state,
    connect,
  };

  ui.roomList.replaceChildren(); // the server-rendered links are for pages without JavaScript
  renderRooms();
  connect();
})();

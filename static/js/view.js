// What is on screen: the room or conversation shown, the sidebar lists, the people here, who
// is typing, the account box. Each render function redraws its part from the state.
import { GUEST_NICK, byNick, el, hidden, isConvo, nickEl, sameNick, saveSession, state, ui } from "./base.js";
import { askPmHistory } from "./convos.js";
import { currentView, nearBottom, noRoomList, placeUnreadMarker, scrollToEnd, systemLine } from "./log.js";

// --- what is on screen --------------------------------------------------------------------

export function showView(key) {
  const leaving = currentView();
  if (leaving && leaving.kind === "room") leaving.seenId = leaving.lastId;
  let view = null;
  if (isConvo(key)) view = state.convos.get(key) || null;
  else if (key !== null) view = state.rooms.get(key) || null;
  state.current = view ? key : null;
  for (const room of state.rooms.values()) room.list.hidden = room !== view;
  for (const convo of state.convos.values()) convo.list.hidden = convo !== view;
  noRoomList.hidden = view !== null;
  let marker = null;
  if (view === null) {
    ui.roomTitle.textContent = "No room";
    ui.messageInput.placeholder = "Join a room first: /join ROOM";
    history.replaceState(null, "", location.pathname + location.search);
    if (!noRoomList.querySelector(".no-room")) {
      systemLine("You are in no room. Join one from the list, or type /join ROOM.", "notice no-room", noRoomList);
    }
  } else if (view.kind === "room") {
    marker = placeUnreadMarker(view);
    view.unread = 0;
    view.seenId = view.lastId;
    ui.roomTitle.textContent = "#" + view.name;
    ui.messageInput.placeholder = `Message #${view.name}, or /help`;
    history.replaceState(null, "", location.pathname + location.search + "#" + view.name);
  } else {
    view.unread = 0;
    ui.roomTitle.textContent = "@" + view.with;
    ui.messageInput.placeholder = `Private message to ${view.with}`;
    history.replaceState(null, "", location.pathname + location.search + "#@" + view.with);
    askPmHistory(view);
  }
  ui.part.hidden = view === null;
  ui.part.textContent = view && view.kind === "convo" ? "Close" : "Leave";
  if (marker) {
    marker.scrollIntoView({ block: "start" });
    ui.log.scrollTop -= 40; // a little of what came before it too
    ui.jump.hidden = nearBottom();
  } else {
    scrollToEnd();
  }
  renderRooms();
  renderConvos();
  renderMembers();
  renderTyping();
  saveSession();
}

export function renderTitle() {
  let unread = 0;
  for (const room of state.rooms.values()) unread += room.unread;
  for (const convo of state.convos.values()) unread += convo.unread;
  const view = currentView();
  const where = view ? `${view.kind === "room" ? "#" + view.name : "@" + view.with} · chathub` : "chathub";
  document.title = unread ? `(${unread}) ${where}` : where;
}

// What the sidebar says a joined room holds: until `who` answers, the events seen so far
// may be fewer people than the last room list counted, so the larger is shown.
export function memberCount(name) {
  const room = state.rooms.get(name);
  if (!room) return state.directory.get(name) || 0;
  return room.synced ? room.members.size : Math.max(room.members.size, state.directory.get(name) || 0);
}

export function renderRooms() {
  const names = [...state.rooms.keys()];
  const others = [...state.directory.keys()].filter((name) => !state.rooms.has(name));
  const items = [];
  for (const name of [...names, ...others]) {
    const room = state.rooms.get(name);
    const button = el("button", "room" + (room ? " joined" : ""));
    button.type = "button";
    button.dataset.room = name;
    if (name === state.current) button.setAttribute("aria-current", "true");
    button.append(el("span", "room-name", "#" + name));
    const members = el("span", "count");
    members.title = "people here";
    members.append(hidden(", people here: "), String(memberCount(name)));
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

export function renderConvos() {
  const convos = [...state.convos.values()].sort((a, b) => b.lastTs - a.lastTs);
  ui.convoPanel.hidden = convos.length === 0;
  ui.convoList.replaceChildren(
    ...convos.map((convo) => {
      const button = el("button", "room convo joined");
      button.type = "button";
      button.dataset.convo = convo.key;
      if (convo.key === state.current) button.setAttribute("aria-current", "true");
      button.append(el("span", "room-name", "@" + convo.with));
      if (convo.unread) {
        const badge = el("span", "badge");
        badge.append(hidden(", unread: "), String(convo.unread));
        button.append(badge);
      }
      const item = el("li");
      item.append(button);
      return item;
    }),
  );
  renderTitle();
}

export function renderMembers() {
  const view = currentView();
  const room = view && view.kind === "room" ? view : null;
  let members = room ? [...room.members].sort(byNick) : [];
  if (view && view.kind === "convo") members = [state.nick, view.with].filter(Boolean);
  ui.memberCount.textContent = view ? String(members.length) : "";
  const topic = room && room.topic ? ` · ${room.topic}` : "";
  ui.roomMeta.textContent = room ? `${members.length} here${topic}` : view ? "private conversation" : "";
  ui.memberList.replaceChildren(
    ...members.map((nick) => {
      const item = el("li");
      item.append(nickEl(nick));
      if (sameNick(nick, state.nick)) {
        item.append(el("span", "you", " (you)"));
      } else {
        const actions = el("span", "member-actions");
        const talk = el("button", "quiet member-action", "Message");
        talk.type = "button";
        talk.dataset.action = "msg";
        talk.dataset.nick = nick;
        talk.setAttribute("aria-label", `Private message to ${nick}`);
        actions.append(talk);
        // Only an identified user can hold a room role; the server says no to the others.
        if (room && state.account) {
          for (const action of ["kick", "ban"]) {
            const button = el("button", "quiet member-action", action === "kick" ? "Kick" : "Ban");
            button.type = "button";
            button.dataset.action = action;
            button.dataset.nick = nick;
            button.setAttribute("aria-label", `${action === "kick" ? "Kick" : "Ban"} ${nick} from #${room.name}`);
            actions.append(button);
          }
        }
        item.append(actions);
      }
      return item;
    }),
  );
}

export function renderTyping() {
  const view = currentView();
  const now = Date.now();
  let nicks = [];
  if (view && view.kind === "room") {
    for (const [nick, until] of view.typing) if (until <= now) view.typing.delete(nick);
    nicks = [...view.typing.keys()];
  }
  if (!nicks.length) ui.typing.textContent = "";
  else if (nicks.length === 1) ui.typing.textContent = `${nicks[0]} is typing…`;
  else if (nicks.length <= 3) ui.typing.textContent = `${nicks.slice(0, -1).join(", ")} and ${nicks[nicks.length - 1]} are typing…`;
  else ui.typing.textContent = `${nicks.length} people are typing…`;
}

export function renderAccount() {
  const who = state.nick || "…";
  ui.whoami.replaceChildren();
  if (state.account) {
    ui.whoami.append("Logged in as ", el("strong", "", state.account));
    if (!sameNick(state.account, who)) ui.whoami.append(` (nick ${who})`);
  } else {
    ui.whoami.append("Guest: ", el("strong", "", who));
  }
  ui.loginForm.hidden = state.account !== null;
  ui.logoutButton.hidden = state.account === null;
  if (!ui.loginNick.value && state.nick && !GUEST_NICK.test(state.nick)) ui.loginNick.value = state.nick;
  ui.registerButton.disabled = !state.nick || GUEST_NICK.test(state.nick);
  ui.registerButton.title = ui.registerButton.disabled ? "Pick a nick first: a guest- nick cannot be registered" : `Make ${who} your account`;
}

export function loginMessage(text, kind = "error") {
  ui.loginMessage.textContent = text;
  ui.loginMessage.dataset.kind = kind;
  ui.loginMessage.hidden = !text;
}

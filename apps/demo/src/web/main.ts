/**
 * The chat page. Every piece of text from the network or the user goes in with `textContent`
 * or as an attribute value, never as HTML.
 */
import { type ClientState, ReconnectingClient } from '@anyws/browser';
import {
  type AnyMessage,
  type Channel,
  ChannelClient,
  ChannelError,
  type JoinResult,
} from '@anyws/core/channels';
import { type ChatMessage, type ChatMessages, chatMessages, roomChannel } from '../messages.js';
import { type ChatUser, chatPath, LIMITS, normalizeName, normalizeRoom } from '../protocol.js';

interface Session {
  token: string;
  user: ChatUser;
  /** ms since the epoch. */
  expiresAt: number;
}

const SESSION_KEY = 'anyws-demo.session';
const ROOMS_KEY = 'anyws-demo.rooms';
const DEFAULT_ROOMS = ['general', 'random', 'help'];
/** Messages kept on the page; older ones are dropped from the top. */
const MAX_ITEMS = 500;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

const ui = {
  state: element('state'),
  stateText: element('state-text'),
  account: element('account'),
  whoami: element('whoami'),
  signout: element<HTMLButtonElement>('signout'),
  signinView: element('signin-view'),
  signinForm: element<HTMLFormElement>('signin-form'),
  name: element<HTMLInputElement>('name'),
  signinError: element('signin-error'),
  roomsView: element('rooms-view'),
  roomList: element<HTMLUListElement>('room-list'),
  roomForm: element<HTMLFormElement>('room-form'),
  room: element<HTMLInputElement>('room'),
  roomError: element('room-error'),
  chatView: element('chat-view'),
  back: element<HTMLButtonElement>('back'),
  roomTitle: element('room-title'),
  peopleToggle: element<HTMLButtonElement>('people-toggle'),
  peopleCount: element('people-count'),
  leave: element<HTMLButtonElement>('leave'),
  messages: element<HTMLOListElement>('messages'),
  people: element('people'),
  presence: element<HTMLUListElement>('presence'),
  composer: element<HTMLFormElement>('composer'),
  text: element<HTMLInputElement>('text'),
  runtime: element('runtime'),
};

/** A message typed here, until the server has published it. */
interface Outgoing {
  /** Chosen here: sent again after a lost reply, it still shows once (the id is the same). */
  id: string;
  text: string;
}

/** The room the page is in: its connection, its channel, what is shown and what is to send. */
interface Chat {
  room: string;
  client: ReconnectingClient;
  channels: ChannelClient<ChatMessages>;
  channel: Channel<ChatMessages>;
  /** The messages on the page, by id: each shows once, whatever arrives twice. */
  shown: Map<string, HTMLLIElement>;
  outbox: Outgoing[];
  sending: boolean;
  /** The page's own share of the server's rate limit, so that it never floods itself out. */
  bucket: { tokens: number; at: number };
}

let session: Session | null = null;
let chat: Chat | null = null;

// ---- storage -------------------------------------------------------------------------

function loadSession(): Session | null {
  try {
    const value = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null') as Session | null;
    if (!value || typeof value.token !== 'string' || typeof value.user?.name !== 'string')
      return null;
    return value.expiresAt > Date.now() + 60_000 ? value : null;
  } catch {
    return null;
  }
}

function saveSession(value: Session | null): void {
  session = value;
  if (value) localStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else localStorage.removeItem(SESSION_KEY);
}

function recentRooms(): string[] {
  try {
    const rooms = JSON.parse(localStorage.getItem(ROOMS_KEY) ?? '[]') as unknown;
    return Array.isArray(rooms)
      ? rooms.filter((r): r is string => typeof r === 'string' && normalizeRoom(r) === r)
      : [];
  } catch {
    return [];
  }
}

function rememberRoom(room: string): void {
  const rooms = [room, ...recentRooms().filter((r) => r !== room)].slice(0, 8);
  localStorage.setItem(ROOMS_KEY, JSON.stringify(rooms));
}

// ---- views ---------------------------------------------------------------------------

type View = 'signin' | 'rooms' | 'chat';

function show(view: View): void {
  ui.signinView.hidden = view !== 'signin';
  ui.roomsView.hidden = view !== 'rooms';
  ui.chatView.hidden = view !== 'chat';
  ui.account.hidden = session === null;
  ui.whoami.textContent = session ? session.user.name : '';
  if (view === 'signin') ui.name.focus();
  if (view === 'rooms') ui.room.focus();
  if (view === 'chat') ui.text.focus();
}

const STATE_LABELS: Record<ClientState, [string, string]> = {
  connecting: ['connecting', 'connecting…'],
  connected: ['connected', 'connected'],
  reconnecting: ['reconnecting', 'reconnecting…'],
  offline: ['offline', 'offline'],
  closing: ['offline', 'leaving…'],
  closed: ['offline', 'offline'],
};

function showState(state: ClientState | null): void {
  const [kind, label] = state ? STATE_LABELS[state] : ['offline', 'offline'];
  ui.state.dataset.state = kind;
  ui.stateText.textContent = label;
}

function renderRooms(): void {
  const rooms = [...new Set([...recentRooms(), ...DEFAULT_ROOMS])];
  ui.roomList.replaceChildren(
    ...rooms.map((room) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `#${room}`;
      button.dataset.room = room;
      button.addEventListener('click', () => go(room));
      item.append(button);
      return item;
    }),
  );
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** Appends an item and keeps the view at the bottom if the reader was there. */
function append(item: HTMLLIElement): void {
  const list = ui.messages;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  while (list.childElementCount > MAX_ITEMS) list.firstElementChild?.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function notice(text: string, kind: 'system' | 'join' | 'leave' | 'error' = 'system'): void {
  const item = document.createElement('li');
  item.className = kind === 'error' ? 'notice error' : 'notice';
  item.dataset.kind = kind;
  item.textContent = text;
  append(item);
}

/**
 * Shows a message once, in offset order among those of its epoch: a message loaded afresh
 * (after `recovered: false`) goes before the later ones that arrived meanwhile.
 */
function chatMessage(message: ChatMessage, epoch: string, offset: number): void {
  if (!chat || chat.shown.has(message.id)) return;
  const item = document.createElement('li');
  item.className = message.user.id === session?.user.id ? 'msg mine' : 'msg';
  item.dataset.id = message.id;
  item.dataset.epoch = epoch;
  item.dataset.offset = String(offset);
  chat.shown.set(message.id, item);
  const meta = document.createElement('div');
  meta.className = 'meta';
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = message.user.name;
  const time = document.createElement('time');
  time.dateTime = new Date(message.at).toISOString();
  time.textContent = timeFormat.format(message.at);
  meta.append(author, time);
  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = message.text;
  item.append(meta, text);
  const later = [...ui.messages.querySelectorAll<HTMLLIElement>('.msg')].find(
    (other) => other.dataset.epoch === epoch && Number(other.dataset.offset) > offset,
  );
  if (later) ui.messages.insertBefore(item, later);
  else append(item);
}

function presence(users: ChatUser[]): void {
  ui.peopleCount.textContent = String(users.length);
  ui.presence.replaceChildren(
    ...users.map((user) => {
      const item = document.createElement('li');
      item.textContent = user.name;
      item.title = user.name;
      if (user.id === session?.user.id) item.className = 'me';
      return item;
    }),
  );
}

// ---- the connection ------------------------------------------------------------------

function onServerMessage(message: AnyMessage<ChatMessages>): void {
  switch (message.kind) {
    case 'arrived':
      notice(`${message.data.user.name} joined`, 'join');
      break;
    case 'departed':
      notice(`${message.data.user.name} left`, 'leave');
      break;
    case 'welcome':
      notice(message.data.text);
      break;
    case 'presence':
      presence(message.data.users);
      break;
  }
}

/**
 * The room's channel was joined: after a reconnect, what was missed is on its way (recovered)
 * or lost to the history (its bounds, or a server whose history restarted): then the room's
 * recent messages are loaded, and a notice marks the gap. A first join loads them too.
 */
function joined(current: Chat, result: JoinResult, first: boolean): void {
  if (result.recovered) return;
  if (!first)
    notice('Some messages sent while you were away could not be recovered: showing the latest.');
  current.channels.request('recent', {}).then(
    ({ epoch, messages }) => {
      if (chat !== current) return;
      // Those after the join's position arrive (or arrived) as publications.
      for (const { offset, message } of messages)
        if (epoch !== result.epoch || offset <= result.offset) chatMessage(message, epoch, offset);
    },
    () => undefined, // disconnected meanwhile: the next join asks again
  );
}

/** Sends the outbox in order, one request at a time, within the page's share of the rate. */
function pump(current: Chat): void {
  if (current.sending || current.outbox.length === 0 || chat !== current) return;
  if (!current.channels.connection) return; // the next 'open' pumps
  const bucket = current.bucket;
  const t = Date.now();
  // A little under the server's limit: joins and requests count there too.
  const rate = LIMITS.ratePerSecond * 0.8;
  bucket.tokens = Math.min(LIMITS.rateBurst / 2, bucket.tokens + ((t - bucket.at) / 1000) * rate);
  bucket.at = t;
  if (bucket.tokens < 1) {
    setTimeout(() => pump(current), Math.ceil(((1 - bucket.tokens) / rate) * 1000));
    return;
  }
  bucket.tokens -= 1;
  const next = current.outbox[0]!;
  current.sending = true;
  current.channels.request('say', next, { timeout: 10_000 }).then(
    () => {
      current.sending = false;
      current.outbox.shift();
      pump(current);
    },
    (error: Error) => {
      current.sending = false;
      // Lost with the connection (or no answer): sent again on the next one, with its id.
      if (error instanceof ChannelError && error.code === 'disconnected') return;
      if (error.name === 'RequestTimeoutError') {
        setTimeout(() => pump(current), 1000);
        return;
      }
      current.outbox.shift();
      notice(`Not sent: ${error.message}`, 'error');
      pump(current);
    },
  );
}

function socketUrl(room: string, token: string): string {
  const url = new URL(chatPath(room), location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', token);
  return url.href;
}

function enter(room: string): void {
  if (!session) return;
  if (chat?.room === room) {
    show('chat');
    return;
  }
  leaveRoom();
  rememberRoom(room);
  ui.roomTitle.textContent = `#${room}`;
  ui.messages.replaceChildren();
  presence([]);
  // A refused upgrade looks like any failed attempt to a browser: after a few in a row, ask the
  // server whether the token is still good.
  let failures = 0;
  const client = new ReconnectingClient(socketUrl(room, session.token), {
    reconnect: { minDelay: 250, maxDelay: 5000 },
    heartbeat: { interval: 20_000, timeout: 10_000 },
    // A link check (the page went offline, or came back to the foreground) waits this long.
    checkTimeout: 2000,
  });
  // Follows the reconnecting client: each new connection is attached as it opens, and the
  // channel joined again from the last message seen, so the server replays what was missed.
  const channels = new ChannelClient({ messages: chatMessages }, client);
  const channel = channels.channel(roomChannel(room));
  const current: Chat = {
    room,
    client,
    channels,
    channel,
    shown: new Map(),
    outbox: [],
    sending: false,
    bucket: { tokens: LIMITS.rateBurst / 2, at: Date.now() },
  };
  chat = current;
  client.on('state', (state) => {
    if (chat?.client === client) showState(state);
  });
  // One notice per outage, not one per failed attempt.
  let lost = false;
  let first = true;
  client.on('open', () => {
    failures = 0;
    if (lost) notice('Connection restored.');
    lost = false;
    pump(current); // after the channel client's own listener: on the new connection
  });
  channels.onMessage(onServerMessage);
  channels.on('error', () =>
    notice('The server sent something this page does not understand.', 'error'),
  );
  channel.on('error', () =>
    notice('The server sent a message this page does not understand.', 'error'),
  );
  channel.on('publication', (publication) => {
    if (publication.kind === 'message')
      chatMessage(publication.data, publication.epoch, publication.offset);
  });
  channel.on('joined', (result) => {
    joined(current, result, first);
    first = false;
  });
  channel.join().catch((error: Error) => notice(`Cannot read the room: ${error.message}`, 'error'));
  client.on('close', (code, reason, retryIn) => {
    if (chat?.client !== client) return;
    if (retryIn === null) {
      notice(
        `Disconnected${reason ? `: ${reason}` : ''} (${code}).`,
        code === 1000 ? 'system' : 'error',
      );
      presence([]);
      return;
    }
    if (!lost) notice('Connection lost: reconnecting…');
    lost = true;
    if (code !== 1006 || ++failures % 3 === 0) void checkSession();
  });
  showState(client.state);
  show('chat');
}

function leaveRoom(): void {
  const current = chat;
  chat = null;
  ui.people.classList.remove('open');
  ui.peopleToggle.setAttribute('aria-expanded', 'false');
  if (!current) return;
  // Say goodbye when the link is up; the close ends the client either way.
  if (current.channels.connection) current.channels.send('bye', {}).catch(() => undefined);
  current.client.close(1000, 'left').catch(() => undefined);
  showState(null);
}

/** Signs out when the server no longer takes the token (expired, or a new secret). */
async function checkSession(): Promise<void> {
  if (!session) return;
  try {
    const response = await fetch('/api/session', {
      headers: { authorization: `Bearer ${session.token}` },
    });
    if (response.status === 401) signOut('Your session is no longer valid: sign in again.');
  } catch {
    // The server is unreachable: the client keeps trying, nothing to decide yet.
  }
}

function signOut(message = ''): void {
  leaveRoom();
  saveSession(null);
  ui.signinError.textContent = message;
  history.replaceState(null, '', location.pathname);
  show('signin');
}

// ---- routing -------------------------------------------------------------------------

function go(room: string): void {
  location.hash = `#/${room}`;
}

function roomOfHash(hash: string): string | null {
  try {
    return normalizeRoom(decodeURIComponent(hash.replace(/^#\/?/, '')));
  } catch {
    return null;
  }
}

function route(): void {
  if (!session) {
    show('signin');
    return;
  }
  const room = roomOfHash(location.hash);
  if (room) {
    enter(room);
    return;
  }
  leaveRoom();
  renderRooms();
  show('rooms');
}

// ---- forms ---------------------------------------------------------------------------

ui.signinForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = normalizeName(ui.name.value);
  if (name === null) {
    ui.signinError.textContent = `A name is 1 to ${LIMITS.maxNameLength} characters.`;
    return;
  }
  ui.signinError.textContent = '';
  try {
    const response = await fetch('/api/signin', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    const body = (await response.json()) as Partial<Session> & { error?: string };
    if (!response.ok || !body.token || !body.user || !body.expiresAt) {
      ui.signinError.textContent = body.error ?? `Sign-in failed (${response.status}).`;
      return;
    }
    saveSession({ token: body.token, user: body.user, expiresAt: body.expiresAt });
    route();
  } catch {
    ui.signinError.textContent = 'The server cannot be reached. Try again in a moment.';
  }
});

ui.roomForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const room = normalizeRoom(ui.room.value);
  if (room === null) {
    ui.roomError.textContent = 'A room name is 1 to 32 letters a-z, digits or dashes.';
    return;
  }
  ui.roomError.textContent = '';
  ui.room.value = '';
  go(room);
});

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!chat || text === '') return;
  if (text.length > LIMITS.maxTextLength) {
    notice(`A message has at most ${LIMITS.maxTextLength} characters.`, 'error');
    return;
  }
  // While reconnecting the page holds the message and sends it once the link is back.
  chat.outbox.push({ id: crypto.randomUUID(), text });
  pump(chat);
  ui.text.value = '';
});

ui.signout.addEventListener('click', () => signOut());
ui.back.addEventListener('click', () => {
  history.pushState(null, '', location.pathname);
  route();
});
ui.leave.addEventListener('click', () => {
  history.pushState(null, '', location.pathname);
  route();
});
ui.peopleToggle.addEventListener('click', () => {
  const open = ui.people.classList.toggle('open');
  ui.peopleToggle.setAttribute('aria-expanded', String(open));
});
window.addEventListener('hashchange', route);

// ---- start ---------------------------------------------------------------------------

async function start(): Promise<void> {
  fetch('/api/info')
    .then((r) => r.json() as Promise<{ runtime: string }>)
    .then((info) => {
      ui.runtime.textContent =
        { node: 'Node.js', deno: 'Deno', workers: 'Cloudflare Workers' }[info.runtime] ??
        info.runtime;
    })
    .catch(() => undefined);
  session = loadSession();
  if (session) {
    const response = await fetch('/api/session', {
      headers: { authorization: `Bearer ${session.token}` },
    }).catch(() => null);
    if (response?.status === 401) {
      saveSession(null);
      ui.signinError.textContent = 'Your session is no longer valid: sign in again.';
    }
  }
  showState(null);
  route();
}

void start();

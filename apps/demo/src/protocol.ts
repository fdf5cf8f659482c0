/**
 * The chat's limits, names and paths, shared by the server handlers and the page. No imports at
 * all, so it runs unchanged in Node, Deno, workerd and browsers. The messages themselves are
 * channels' typed messages: `messages.ts`.
 */

/** Limits of the chat, in one place. */
export const LIMITS = Object.freeze({
  /** Longest chat message, in UTF-16 code units after trimming. */
  maxTextLength: 1000,
  /** Longest user name. */
  maxNameLength: 24,
  /** Largest WebSocket message the server reads at all; bigger closes with 1009 (core). */
  maxMessageBytes: 16 * 1024,
  /**
   * Token bucket per connection: this many messages at once (every WebSocket message counts,
   * joins and requests too)...
   */
  rateBurst: 20,
  /** ...refilled at this many per second. Past it the connection is closed with 1008. */
  ratePerSecond: 5,
  /** How long a sign-in token is valid, in seconds. */
  tokenLifetimeSeconds: 12 * 60 * 60,
});

/** A signed-in user: `id` is stable for one sign-in, `name` is what the others see. */
export interface ChatUser {
  id: string;
  name: string;
}

/** A room name: lowercase letters, digits and dashes, 1 to 32 of them, starting with a letter or digit. */
export const ROOM_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** The room name a user typed, normalised, or null when it cannot be one. */
export function normalizeRoom(input: string): string | null {
  const room = input
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
  return ROOM_PATTERN.test(room) ? room : null;
}

/** A display name: trimmed, inner whitespace collapsed, no control characters; null when unusable. */
export function normalizeName(input: unknown): string | null {
  if (typeof input !== 'string') return null;
  // Control and format characters (bidi overrides among them) would let a name disguise itself.
  if (/[\p{Cc}\p{Cf}]/u.test(input.replace(/[\t\n\r]/g, ' '))) return null;
  const name = input.trim().replace(/\s+/g, ' ');
  if (name === '' || [...name].length > LIMITS.maxNameLength) return null;
  return name;
}

/** The WebSocket path of a room. */
export function chatPath(room: string): string {
  return `/ws/chat/${encodeURIComponent(room)}`;
}

/** The room of a `/ws/chat/:room` URL path, or null when the path is not one. */
export function roomFromPath(pathname: string): string | null {
  const match = /^\/ws\/chat\/([^/]+)\/?$/.exec(pathname);
  if (!match) return null;
  let room: string;
  try {
    room = decodeURIComponent(match[1]!);
  } catch {
    return null;
  }
  return ROOM_PATTERN.test(room) ? room : null;
}

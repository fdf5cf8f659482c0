/**
 * Connection ids unique across processes: a random prefix made once per JS realm (on first
 * use: Workers forbid randomness at module scope) and a counter. A topic bus that spans
 * processes names connections by these ids, e.g. in `exclude`.
 */

let prefix: string | undefined;
let counter = 0;

function randomPrefix(): string {
  const bytes = new Uint8Array(9);
  globalThis.crypto.getRandomValues(bytes);
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}

/** A new id: `<18 hex digits of this realm>.<counter in base 36>`; never the same twice. */
export function nextConnectionId(): string {
  prefix ??= randomPrefix();
  counter++;
  return `${prefix}.${counter.toString(36)}`;
}

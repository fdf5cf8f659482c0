/** Between Node's HTTP objects and the web `Request`/`Response` that core's handler API speaks. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { toWebSocketUrl } from '@anyws/core';

/** A Host header that is a plain host name or address with an optional port. */
const PLAIN_HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/**
 * The request's URL for `Request`, which parses a string anyway: for an origin-form target
 * under a plain host (the usual case) the concatenation is the URL that resolving against the
 * base gives, without a URL object parsed first. `//…` and `/\…` would name another host
 * when resolved, so they are resolved.
 */
function urlInput(req: IncomingMessage): string | URL {
  return urlOf(
    (req.socket as { encrypted?: boolean }).encrypted === true,
    req.headers.host,
    req.url,
  );
}

function urlOf(encrypted: boolean, hostHeader: string | undefined, url: string | undefined) {
  const host = hostHeader ?? 'localhost';
  const base = `${encrypted ? 'https' : 'http'}://${host}`;
  const target = url ?? '/';
  const second = target.charCodeAt(1);
  return target.charCodeAt(0) === 0x2f &&
    second !== 0x2f &&
    second !== 0x5c &&
    PLAIN_HOST.test(host)
    ? base + target
    : new URL(target, base);
}

function buildRequest(url: string | URL, method: string, raw: readonly string[]): Request {
  // Pairs go into the request's own header list once, where a `Headers` would be copied.
  const headers: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) headers.push([raw[i]!, raw[i + 1]!]);
  return new Request(url, { method, headers });
}

/**
 * What a connection keeps of its upgrade request: enough to build the web `Request` and the
 * URL it reports, on first read (by a handler function, the `upgrade` hook, `conn.request` or
 * `conn.url`). Not the `IncomingMessage`, which would keep its socket's parser state alive as
 * long as the connection; not a closure, a `Request` or a URL string per connection, which an
 * idle connection would pay for in heap whether or not anything reads them.
 */
export class UpgradeHead {
  /**
   * What both are built from, in one string: a flag for TLS, the method, the target and the
   * raw header names and values, joined by LF (which HTTP allows in none of them). One flat
   * string costs a fraction of an array of a dozen.
   */
  readonly #packed: string;
  /** The Request, once something asked for it. */
  built: Request | undefined;
  #url: string | undefined;

  constructor(req: IncomingMessage) {
    const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
    // One join makes one flat string (a template literal would keep a rope of its parts).
    this.#packed = [
      encrypted ? 's' : '',
      req.method ?? 'GET',
      req.url ?? '/',
      ...req.rawHeaders,
    ].join('\n');
  }

  /** The Request (built once); throws where `Request` refuses the URL or a header. */
  request(): Request {
    if (this.built === undefined) {
      const fields = this.#packed.split('\n');
      const raw = fields.slice(3);
      this.built = buildRequest(this.#urlInput(fields, raw), fields[1]!, raw);
    }
    return this.built;
  }

  /**
   * The URL the connection reports, `ws:` or `wss:` (made once, on first read). The upgrade
   * checked it with {@link checkRequestUrl} first, so it does not throw here.
   */
  get url(): string {
    if (this.#url === undefined) {
      const input = this.built?.url ?? this.#urlInput(this.#packed.split('\n'));
      this.#url = toWebSocketUrl(typeof input === 'string' ? new URL(input).href : input.href);
    }
    return this.#url;
  }

  #urlInput(fields: string[], raw = fields.slice(3)): string | URL {
    let host: string | undefined;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (raw[i]!.toLowerCase() === 'host') {
        host = raw[i + 1];
        break;
      }
    }
    return urlOf(fields[0] === 's', host, fields[2]);
  }
}

/**
 * Throws where `Request` would refuse the upgrade's URL, so that such a request is a 400 before
 * anything is built. The URL itself is made later, on first read (`UpgradeHead`).
 */
export function checkRequestUrl(req: IncomingMessage): void {
  const input = urlInput(req);
  if (typeof input === 'string' && surelyValidHost(req.headers.host ?? 'localhost')) return;
  void new URL(input);
}

/** A DNS name of ASCII labels whose last one starts with a letter, with an optional port. */
const NAME_HOST = /^(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*\.?(?::(\d{1,5}))?$/;
/** Four decimal bytes without leading zeros (which the URL parser reads as octal), port optional. */
const DOTTED_QUAD =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?::(\d{1,5}))?$/;

/**
 * True for a Host the URL parser accepts as it is: most of them, checked without parsing a URL
 * (which costs several microseconds per upgrade). False means "parse it to know": an IPv6
 * literal, a name whose last label starts with a digit (the parser reads such a host as an
 * IPv4 address, and refuses it unless it is one), a punycode label (`xn--`, which it decodes
 * and may refuse), a port above 65535.
 */
export function surelyValidHost(host: string): boolean {
  const match = NAME_HOST.exec(host) ?? DOTTED_QUAD.exec(host);
  if (match === null) return false;
  if (match[1] !== undefined && Number(match[1]) > 65535) return false;
  return !/(?:^|\.)xn--/i.test(host);
}

/** Header lookups over Node's parsed headers, answering as `Headers.get` does. */
class IncomingHeaders {
  constructor(readonly headers: IncomingHttpHeaders) {}

  get(name: string): string | null {
    // Core asks with lowercase names: looked up as they are, they need no copy.
    let value = this.headers[name];
    if (value === undefined) {
      const lower = name.toLowerCase();
      if (lower !== name) value = this.headers[lower];
    }
    if (value === undefined) return null;
    return typeof value === 'string' ? value : value.join(', ');
  }
}

/**
 * What core's handshake checks read (method and headers), straight from the
 * `IncomingMessage`: for handlers that never see a `Request`, so none is built.
 */
export function handshakeFields(req: IncomingMessage): {
  method: string;
  headers: IncomingHeaders;
} {
  return { method: req.method ?? 'GET', headers: new IncomingHeaders(req.headers) };
}

/**
 * RFC 6455 §4.1 wants HTTP/1.1 or later for the opening handshake; ws upgrades HTTP/1.0 too and
 * a web `Request` does not carry the version, so this check is the adapter's.
 */
export function checkHttpVersion(req: IncomingMessage): Response | null {
  if (req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1))
    return null;
  return new Response('WebSocket needs HTTP/1.1 or later', { status: 505 });
}

/** The URL a server connection reports: the request's, with the WebSocket scheme (core's rule). */
export { toWebSocketUrl };

/** Headers a refusal must not copy from the `Response`: this writer sets framing itself. */
const SKIPPED = new Set([
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'set-cookie',
]);

/**
 * Writes `response` on a socket that asked for an upgrade, as a plain HTTP/1.1 response
 * (status, headers, body), then ends the socket: the refusal happens before any upgrade.
 */
export async function writeResponse(socket: Duplex, response: Response): Promise<void> {
  let body: Buffer;
  try {
    body = Buffer.from(await response.arrayBuffer());
  } catch {
    body = Buffer.alloc(0);
  }
  if (socket.destroyed || !socket.writable) return;
  const status = response.status;
  const lines = [`HTTP/1.1 ${String(status)} ${response.statusText || STATUS_CODES[status] || ''}`];
  response.headers.forEach((value, name) => {
    if (!SKIPPED.has(name)) lines.push(`${name}: ${sanitize(value)}`);
  });
  for (const cookie of response.headers.getSetCookie())
    lines.push(`set-cookie: ${sanitize(cookie)}`);
  lines.push(`content-length: ${String(body.byteLength)}`, 'connection: close', '', '');
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]), () =>
    socket.destroy(),
  );
}

/** `Headers` already refuses CR/LF in values; this keeps a hand-built line safe regardless. */
function sanitize(value: string): string {
  return value.replace(/[\r\n]/g, ' ');
}

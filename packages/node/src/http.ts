/** Between Node's HTTP objects and the web `Request`/`Response` that core's handler API speaks. */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** The web `Request` of an upgrade request. Throws on a URL or header that `Request` refuses. */
export function toRequest(req: IncomingMessage): Request {
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const host = req.headers.host ?? 'localhost';
  const url = new URL(req.url ?? '/', `${encrypted ? 'https' : 'http'}://${host}`);
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return new Request(url, { method: req.method ?? 'GET', headers });
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

/** The URL a server connection reports: the request's, with the WebSocket scheme. */
export function toWebSocketUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}

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

/**
 * The demo's one Hono app. Each entry point (Node, Deno, Workers) builds it with its own way of
 * serving a WebSocket route; pages, sign-in and the chat handlers are the same everywhere.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { assets } from './assets.js';
import { issueToken, verifyToken } from './auth.js';
import { LIMITS, normalizeName } from './protocol.js';

/** Where the app runs; shown on the page. */
export type RuntimeName = 'node' | 'deno' | 'workers';

/** What an entry point hands the app. */
export interface AppOptions {
  runtime: RuntimeName;
  /** The HS256 secret of sign-in tokens. */
  secret: string;
  /** Serves `/ws/echo`. */
  echo: MiddlewareHandler;
  /** Serves `/ws/chat/:room`; the chat handler's `upgrade` hook checks the token. */
  chat: MiddlewareHandler;
}

// The page gets nothing from elsewhere: no inline script, no foreign origin, no framing.
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match ? match[1]! : null;
}

/** Builds the app. */
export function createApp(options: AppOptions): Hono {
  const app = new Hono();

  for (const [path, asset] of Object.entries(assets)) {
    app.get(path, (c) => {
      if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304);
      return c.body(asset.body, 200, {
        ...PAGE_HEADERS,
        'content-type': asset.type,
        etag: asset.etag,
        'cache-control': 'no-cache',
      });
    });
  }

  app.get('/api/info', (c) => c.json({ runtime: options.runtime, limits: LIMITS }));

  app.post('/api/signin', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: 'send JSON: {"name": "…"}' }, 400);
    }
    const name = normalizeName((body as { name?: unknown } | null)?.name);
    if (name === null) {
      return c.json(
        { error: `a name is 1 to ${LIMITS.maxNameLength} characters, no control characters` },
        400,
      );
    }
    const user = { id: crypto.randomUUID(), name };
    const { token, expiresAt } = await issueToken(options.secret, user);
    return c.json({ token, expiresAt, user });
  });

  app.get('/api/session', async (c) => {
    const token = bearer(c.req.header('authorization'));
    const user = token ? await verifyToken(options.secret, token) : null;
    if (!user)
      return c.json({ error: 'not signed in' }, 401, {
        'www-authenticate': 'Bearer realm="anyws-demo"',
      });
    return c.json({ user });
  });

  app.get('/ws/echo', options.echo);
  app.get('/ws/chat/:room', options.chat);

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((error, c) => {
    console.error(error);
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}

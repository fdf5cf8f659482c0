/** Sign-in tokens: HS256 JWTs made and checked with Hono's JWT helpers (WebCrypto, every runtime). */
import { sign, verify } from 'hono/jwt';
import { type ChatUser, LIMITS, normalizeName } from './protocol.js';

/**
 * The secret used when `JWT_SECRET` is not set, in a development run only. Public on purpose:
 * anyone can sign tokens with it, so it is never used where someone else can reach the server.
 */
export const DEV_SECRET = 'anyws-demo-development-secret-set-JWT_SECRET';

/**
 * Whether `hostname` (a listening address, or the host of a request URL) reaches this machine
 * only: `localhost`, 127.0.0.0/8, `::1`. Such a run is a development run. `0.0.0.0` and `::`
 * listen on every interface and are not.
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  );
}

/** The secret in force and whether it is the development default; or why there is none. */
export type SecretChoice =
  | { ok: true; secret: string; isDefault: boolean }
  | { ok: false; message: string };

/**
 * Fails closed: `JWT_SECRET` when set; the public development default only in a development run
 * (`development`: listening on loopback only, or a request to a loopback host under
 * `wrangler dev`); otherwise no secret at all, and a message saying what to set.
 */
export function resolveSecret(value: string | undefined, development: boolean): SecretChoice {
  if (value) return { ok: true, secret: value, isDefault: false };
  if (development) return { ok: true, secret: DEV_SECRET, isDefault: true };
  return {
    ok: false,
    message:
      'JWT_SECRET is not set and this server can be reached from other machines: anyone could forge sign-in tokens with the public development secret. Set JWT_SECRET (a long random string), or listen on 127.0.0.1 for development.',
  };
}

/** The line an entry point prints at start about the secret. */
export function secretNotice(isDefault: boolean): string {
  return isDefault
    ? `JWT_SECRET is not set: signing tokens with the public development default (loopback only). Set JWT_SECRET before listening anywhere else.`
    : 'JWT_SECRET is set: signing tokens with it.';
}

/** A signed token for `user`, valid for `LIMITS.tokenLifetimeSeconds`. */
export async function issueToken(
  secret: string,
  user: ChatUser,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<{ token: string; expiresAt: number }> {
  const exp = nowSeconds + LIMITS.tokenLifetimeSeconds;
  const token = await sign(
    { sub: user.id, name: user.name, iat: nowSeconds, exp },
    secret,
    'HS256',
  );
  return { token, expiresAt: exp * 1000 };
}

/** The user of a valid token; null for an expired, forged or malformed one (never throws). */
export async function verifyToken(secret: string, token: string): Promise<ChatUser | null> {
  try {
    // The algorithm is pinned: a token may not choose how it is checked.
    const payload = await verify(token, secret, 'HS256');
    if (typeof payload.exp !== 'number') return null;
    const name = normalizeName(payload.name);
    if (typeof payload.sub !== 'string' || payload.sub === '' || name === null) return null;
    return { id: payload.sub, name };
  } catch {
    return null;
  }
}

/** Sign-in tokens: HS256 JWTs made and checked with Hono's JWT helpers (WebCrypto, every runtime). */
import { sign, verify } from 'hono/jwt';
import { type ChatUser, LIMITS, normalizeName } from './protocol.js';

/**
 * The secret used when `JWT_SECRET` is not set. Public on purpose: it is for a development
 * machine only, and every entry point says so loudly at start.
 */
export const DEV_SECRET = 'anyws-demo-development-secret-set-JWT_SECRET';

/** The secret in force, and whether it is the development default. */
export function resolveSecret(value: string | undefined): { secret: string; isDefault: boolean } {
  return value ? { secret: value, isDefault: false } : { secret: DEV_SECRET, isDefault: true };
}

/** The line an entry point prints at start about the secret. */
export function secretNotice(isDefault: boolean): string {
  return isDefault
    ? `JWT_SECRET is not set: signing tokens with the development default "${DEV_SECRET}". Set JWT_SECRET outside development.`
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

// Fail closed without JWT_SECRET: the public development secret signs tokens only in a
// development run (listening on loopback only, or `wrangler dev` reached on a loopback host).
// Elsewhere the Node and Deno entries refuse to start and the Worker refuses sign-in.
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { DEV_SECRET, isLoopback, resolveSecret, verifyToken } from '../src/auth.js';
import { startDemo } from './harness.js';

async function signIn(url: string, name = 'ada'): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/api/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  return { status: response.status, body: await response.json() };
}

/** A POST to 127.0.0.1:port naming another host, as a request to a deployed Worker would. */
function signInAs(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/signin',
        method: 'POST',
        headers: { host, 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ name: 'mallory' }));
  });
}

describe('which hosts are a development run', () => {
  it('loopback names and addresses are; every-interface and other addresses are not', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]']) {
      expect(isLoopback(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '[::]', '10.0.0.1', 'example.com', '128.0.0.1', '']) {
      expect(isLoopback(host), host).toBe(false);
    }
  });
  it('the secret: as set; the default only in development; otherwise none and why', () => {
    expect(resolveSecret('s3cret', false)).toEqual({
      ok: true,
      secret: 's3cret',
      isDefault: false,
    });
    expect(resolveSecret(undefined, true)).toEqual({
      ok: true,
      secret: DEV_SECRET,
      isDefault: true,
    });
    const refused = resolveSecret('', false);
    expect(refused.ok).toBe(false);
    expect(refused.ok ? '' : refused.message).toMatch(/Set JWT_SECRET/);
  });
});

describe.each(['node', 'deno'] as const)('%s entry point', (runtime) => {
  it('refuses to start on every interface without JWT_SECRET, saying why', async () => {
    // It exits before it listens: nothing is bound.
    const error = await startDemo(runtime, { secret: null, env: { HOST: '0.0.0.0' } }).then(
      async (server) => {
        await server.stop();
        throw new Error('it started');
      },
      (e: unknown) => e as Error,
    );
    expect(error.message).toMatch(/exited with 1 before it was ready/);
    expect(error.message).toMatch(/cannot start: JWT_SECRET is not set .*\(HOST is 0\.0\.0\.0\)/);
  });

  it('starts on loopback without JWT_SECRET (one command on a fresh machine), with the default', async () => {
    const server = await startDemo(runtime, { secret: null });
    try {
      expect(server.output()).toMatch(/JWT_SECRET is not set: signing tokens with the public/);
      const { status, body } = await signIn(server.url);
      expect(status).toBe(200);
      const { token } = body as { token: string };
      expect(await verifyToken(DEV_SECRET, token)).toMatchObject({ name: 'ada' });
    } finally {
      await server.stop();
    }
  });
});

describe('node entry point with JWT_SECRET', () => {
  it('starts on every interface and signs with the secret', async () => {
    // Bound to 0.0.0.0 for the length of this test only; it is talked to on 127.0.0.1.
    const server = await startDemo('node', { secret: 'a-real-secret', env: { HOST: '0.0.0.0' } });
    try {
      expect(server.output()).toMatch(/JWT_SECRET is set/);
      const { status, body } = await signIn(server.url);
      expect(status).toBe(200);
      const { token } = body as { token: string };
      expect(await verifyToken('a-real-secret', token)).toMatchObject({ name: 'ada' });
      expect(await verifyToken(DEV_SECRET, token)).toBeNull();
    } finally {
      await server.stop();
    }
  });
});

describe('worker under wrangler dev without JWT_SECRET', () => {
  it('signs in on a loopback host; refuses sign-in, session and chat on any other host', async () => {
    const server = await startDemo('workers', { secret: null });
    try {
      const local = await signIn(server.url);
      expect(local.status).toBe(200);
      expect(await verifyToken(DEV_SECRET, (local.body as { token: string }).token)).not.toBeNull();
      const remote = await signInAs(server.port, 'demo.example.com');
      expect(remote.status).toBe(503);
      expect(JSON.parse(remote.body).error).toMatch(/JWT_SECRET is not set.*wrangler secret put/);
      // The page itself is still served.
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

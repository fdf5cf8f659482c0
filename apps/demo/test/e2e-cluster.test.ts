// `pnpm demo:cluster` as the README runs it (scripts/cluster.mjs, on free ports): it starts its
// own redis-server, two Node processes and one Deno process; a page on a Node process and a page
// on the Deno process chat in one room and see each other in its presence; on stop, the
// processes and the redis-server it started are gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  joinRoom,
  presence,
  say,
  sees,
  seesNotice,
  signIn,
  WAIT,
  watch,
} from './e2e.js';
import { APP_DIR, freePort, TEST_SECRET } from './harness.js';

/** Whether something accepts TCP connections on the port (bounded: 1 s). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

describe('pnpm demo:cluster: Node and Deno processes on one Redis, in headless Chromium', () => {
  let cluster: ChildProcess;
  let output = '';
  let exited: Promise<unknown>;
  const ports: number[] = [];
  let redisPort = 0;
  let browser: Browser;
  let pageNode: Page;
  let pageDeno: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: apt-get install chromium (see .ci/run)`);
    for (let i = 0; i < 3; i++) ports.push(await freePort());
    redisPort = await freePort();
    cluster = spawn(process.execPath, [join(APP_DIR, 'scripts', 'cluster.mjs')], {
      cwd: APP_DIR,
      env: {
        ...process.env,
        PORTS: ports.join(','),
        REDIS_PORT: String(redisPort),
        REDIS_URL: '',
        JWT_SECRET: TEST_SECRET,
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => cluster.once('exit', resolve));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cluster not ready:\n${output}`)), 40_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('[cluster] ready:')) {
          clearTimeout(timer);
          resolve();
        }
      };
      cluster.stdout?.on('data', onData);
      cluster.stderr?.on('data', onData);
      cluster.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`cluster exited (${String(code)}):\n${output}`));
      });
    });
    [, browser] = await Promise.all([
      ready,
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true }),
    ]);
    pageNode = await (await browser.newContext()).newPage();
    pageDeno = await (await browser.newContext()).newPage();
    for (const page of [pageNode, pageDeno]) {
      page.setDefaultTimeout(WAIT);
      watch(page, pageErrors);
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (cluster && cluster.exitCode === null && cluster.signalCode === null) {
      cluster.kill('SIGTERM');
      await exited;
    }
  }, 30_000);

  it('started its own Redis: the cluster says so', () => {
    expect(output).toContain(`started redis-server at redis://127.0.0.1:${String(redisPort)}`);
  });

  it('a user on a Node process and a user on the Deno process chat and see each other', async () => {
    await signIn(pageNode, `http://127.0.0.1:${String(ports[0])}`, 'Ada');
    await pageNode.locator('#runtime', { hasText: 'Node.js' }).waitFor({ state: 'attached' });
    await joinRoom(pageNode, 'lobby');
    await presence(pageNode, ['Ada']);

    await signIn(pageDeno, `http://127.0.0.1:${String(ports[2])}`, 'Bob');
    await pageDeno.locator('#runtime', { hasText: 'Deno' }).waitFor({ state: 'attached' });
    await joinRoom(pageDeno, 'lobby');
    // Presence across processes: each page lists both.
    await presence(pageDeno, ['Ada', 'Bob']);
    await presence(pageNode, ['Ada', 'Bob']);
    await seesNotice(pageNode, 'Bob joined');

    await say(pageNode, 'Hello from Node');
    expect(await sees(pageDeno, 'Hello from Node')).toBe('Ada');
    await say(pageDeno, 'Hello from Deno');
    expect(await sees(pageNode, 'Hello from Deno')).toBe('Bob');
    // Each message once: the sender's own copy comes from its own process only.
    for (const page of [pageNode, pageDeno]) {
      for (const text of ['Hello from Node', 'Hello from Deno']) {
        expect(
          await page.locator('#messages .msg .text', { hasText: new RegExp(`^${text}$`) }).count(),
        ).toBe(1);
      }
    }

    // Bob leaves: the Node page's presence follows.
    await pageDeno.close();
    await presence(pageNode, ['Ada']);
    await seesNotice(pageNode, 'Bob left');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('on stop, the processes and the Redis it started are gone', async () => {
    cluster.kill('SIGTERM');
    await exited;
    for (const port of [...ports, redisPort]) expect(await listening(port)).toBe(false);
  }, 30_000);
});

// `pnpm demo:cluster` as the README runs it (scripts/cluster.mjs, on free ports): it starts its
// own redis-server, two Node processes and one Deno process; a page on a Node process and a page
// on the Deno process chat in one room and see each other in its presence; a Node process of
// the cluster is killed under a page and started again by the cluster, and the page gets the 50
// messages it missed meanwhile (the room's history is a Redis stream); on stop, the processes
// and the redis-server it started are gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  connected,
  joinRoom,
  presence,
  say,
  sayMany,
  sees,
  seesNotice,
  showsInOrder,
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

  it('a Node process of the cluster restarts: its page gets the 50 messages it missed, once each and in order', async () => {
    const context = await browser.newContext();
    try {
      const cy = await context.newPage();
      cy.setDefaultTimeout(WAIT);
      watch(cy, pageErrors);
      // The second Node process.
      const label = `[node:${String(ports[1])}]`;
      await signIn(cy, `http://127.0.0.1:${String(ports[1])}`, 'Cy');
      await joinRoom(cy, 'lobby');
      await say(pageNode, 'before the restart');
      expect(await sees(cy, 'before the restart')).toBe('Ada');

      const pid = Number(new RegExp(`\\${label} pid (\\d+)`).exec(output)?.[1]);
      expect(pid).toBeGreaterThan(0);
      const mark = output.length;
      process.kill(pid, 'SIGTERM');
      await cy.locator('#state:not([data-state="connected"])').waitFor({ state: 'attached' });
      // Ada, on another process, goes on talking while Cy's process restarts.
      const missed = await sayMany(pageNode, 'while it restarted', 50);
      await connected(cy);
      expect(output.slice(mark)).toContain(`${label} stopped: starting it again`);
      await showsInOrder(cy, ['before the restart', ...missed]);
      // The position was in the Redis stream: recovered, no gap to report.
      expect(
        await cy.locator('#messages .notice', { hasText: 'could not be recovered' }).count(),
      ).toBe(0);
      await say(cy, 'back on a new process');
      expect(await sees(pageNode, 'back on a new process')).toBe('Cy');
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('on stop, the processes and the Redis it started are gone', async () => {
    cluster.kill('SIGTERM');
    await exited;
    for (const port of [...ports, redisPort]) expect(await listening(port)).toBe(false);
  }, 30_000);
});

// The end-to-end scenario, run on each runtime in real headless Chromium: two pages sign in,
// join one room, see each other's messages and presence, one leaves; forged, expired and
// missing tokens are refused with 401 before any upgrade; on Node the server restarts under
// the pages and both reconnect and keep chatting.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { WebSocketConnection } from '@anyws/core';
import { connect } from '@anyws/node';
import { sign } from 'hono/jwt';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WsClient from 'ws';
import { defineEchoTests } from './echo.js';
import { APP_DIR, type DemoServer, type Runtime, startDemo, TEST_SECRET } from './harness.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOT = join(APP_DIR, '..', '..', 'docs', 'demo.png');
/** Every wait in the browser is bounded by this. */
export const WAIT = 20_000;

/** Opens a WebSocket from Node and reports the HTTP status of a refusal (or 101). */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WsClient(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no answer from ${url}`));
    }, 10_000);
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(101);
      ws.close(1000);
    });
    ws.once('error', () => undefined);
  });
}

export async function signIn(page: Page, baseUrl: string, name: string): Promise<void> {
  await page.goto(baseUrl);
  await page.locator('#signin-view').waitFor({ state: 'visible' });
  await page.fill('#name', name);
  await page.click('#signin-form button[type="submit"]');
  await page.locator('#rooms-view').waitFor({ state: 'visible' });
  expect(await page.textContent('#whoami')).toBe(name);
}

export async function joinRoom(page: Page, room: string): Promise<void> {
  await page.fill('#room', room);
  await page.click('#room-form button[type="submit"]');
  await page.locator('#chat-view').waitFor({ state: 'visible' });
  await connected(page);
  expect(await page.textContent('#room-title')).toBe(`#${room}`);
}

function connected(page: Page): Promise<unknown> {
  return page.locator('#state[data-state="connected"]').waitFor({ state: 'attached' });
}

export async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#send');
}

/** Waits until a chat message with exactly `text` is on the page; returns its author. */
export async function sees(page: Page, text: string): Promise<string> {
  const handle = await page.waitForFunction(
    (wanted) => {
      for (const item of document.querySelectorAll('#messages .msg')) {
        if (item.querySelector('.text')?.textContent === wanted)
          return item.querySelector('.author')?.textContent ?? '';
      }
      return false;
    },
    text,
    { timeout: WAIT },
  );
  return (await handle.jsonValue()) as string;
}

export function seesNotice(page: Page, text: string): Promise<unknown> {
  return page.waitForFunction(
    (wanted) =>
      [...document.querySelectorAll('#messages .notice')].some((n) => n.textContent === wanted),
    text,
    { timeout: WAIT },
  );
}

/** Waits until the presence list holds exactly `names` (in any order: it is by arrival). */
export async function presence(page: Page, names: string[]): Promise<void> {
  await page.waitForFunction(
    (wanted) => {
      const got = [...document.querySelectorAll('#presence li')].map((li) => li.textContent ?? '');
      return (
        got.sort().join('\n') === [...wanted].sort().join('\n') &&
        document.getElementById('people-count')?.textContent === String(wanted.length)
      );
    },
    names,
    { timeout: WAIT },
  );
}

/** Collects uncaught errors of the page's script (refused connections are expected noise, not these). */
export function watch(page: Page, errors: string[]): void {
  page.on('pageerror', (error) => errors.push(error.message));
}

/** A token for `name`, as the server under test would sign it. */
async function tokenFor(name: string, lifetimeSeconds = 600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    { sub: `u-${name.toLowerCase()}`, name, iat: now, exp: now + lifetimeSeconds },
    TEST_SECRET,
    'HS256',
  );
}

type Reply = { type: string; code?: string; users?: { name: string }[]; user?: { name: string } };

/** Reads a chat connection until `match` holds (bounded in messages and time). */
async function until(conn: WebSocketConnection, match: (m: Reply) => boolean): Promise<Reply> {
  for (let i = 0; i < 50; i++) {
    const message = await conn.receiveJson<Reply>({ timeout: 10_000 });
    if (match(message)) return message;
  }
  throw new Error('the awaited message did not come within 50 messages');
}

const names = (m: Reply): string =>
  (m.users ?? [])
    .map((u) => u.name)
    .sort()
    .join(',');

/** Registers the scenario for `runtime`. */
export function defineEndToEnd(
  runtime: Runtime,
  options: { restart?: boolean; echo?: boolean; hibernation?: boolean } = {},
): void {
  describe(`${runtime} demo in headless Chromium`, () => {
    let server: DemoServer;
    let browser: Browser;
    let ada: BrowserContext;
    let bob: BrowserContext;
    let pageA: Page;
    let pageB: Page;
    const pageErrors: string[] = [];
    const room = 'general';

    beforeAll(async () => {
      if (!existsSync(CHROMIUM))
        throw new Error(`${CHROMIUM} is missing: apt-get install chromium (see .ci/run)`);
      [server, browser] = await Promise.all([
        startDemo(runtime),
        chromium.launch({
          executablePath: CHROMIUM,
          args: CHROMIUM_ARGS,
          headless: true,
          timeout: 30_000,
        }),
      ]);
      // Two people: a desktop window and a phone-sized one.
      ada = await browser.newContext({ viewport: { width: 1000, height: 640 } });
      bob = await browser.newContext({
        viewport: { width: 390, height: 740 },
        isMobile: true,
        hasTouch: true,
      });
      pageA = await ada.newPage();
      pageB = await bob.newPage();
      for (const page of [pageA, pageB]) {
        page.setDefaultTimeout(WAIT);
        watch(page, pageErrors);
      }
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    }, 30_000);

    if (options.echo) defineEchoTests(() => server);

    it('two pages sign in, join a room and see each other', async () => {
      await signIn(pageA, server.url, 'Ada');
      const label = { node: 'Node.js', deno: 'Deno', workers: 'Cloudflare Workers' }[runtime];
      await pageA.locator('#runtime', { hasText: label }).waitFor({ state: 'attached' });
      await joinRoom(pageA, room);
      await presence(pageA, ['Ada']);

      await signIn(pageB, server.url, 'Bob');
      await joinRoom(pageB, room);
      await presence(pageB, ['Ada', 'Bob']);
      await presence(pageA, ['Ada', 'Bob']);
      await seesNotice(pageA, 'Bob joined');

      // On the phone the list is a drawer behind the "Online" button.
      expect(await pageB.isVisible('#people-toggle')).toBe(true);
      await pageB.click('#people-toggle');
      await pageB
        .locator('#people.open #presence li', { hasText: 'Ada' })
        .waitFor({ state: 'visible' });
      await pageB.click('#people-toggle');
    }, 60_000);

    it('messages reach both pages, as text and never as HTML', async () => {
      const runtimeName = { node: 'Node', deno: 'Deno', workers: 'Workers' }[runtime];
      const hello = `Hi Bob! This room runs on ${runtimeName}, with the same handler as everywhere.`;
      await say(pageA, hello);
      expect(await sees(pageB, hello)).toBe('Ada');
      expect(await sees(pageA, hello)).toBe('Ada');
      await say(pageB, 'Hello Ada, I am on my phone.');
      expect(await sees(pageA, 'Hello Ada, I am on my phone.')).toBe('Bob');
      const markup =
        'Is <b>this</b> bold? <img src=x onerror="document.title=\'pwned\'"> No: text stays text.';
      await say(pageB, markup);
      expect(await sees(pageA, markup)).toBe('Bob');
      expect(await sees(pageB, markup)).toBe('Bob');
      for (const page of [pageA, pageB]) {
        expect(await page.locator('#messages img, #messages b').count()).toBe(0);
        expect(await page.title()).toBe('anyws chat');
      }
      if (runtime === 'node') {
        // The README's picture: two people in a room, a conversation, the link up.
        const path =
          process.env.UPDATE_SCREENSHOT || !existsSync(SCREENSHOT)
            ? SCREENSHOT
            : join(APP_DIR, 'test-results', 'demo.png');
        await mkdir(dirname(path), { recursive: true });
        await pageA.screenshot({ path });
      }
      // The phone-sized page, for a look when something is off (test-results is not tracked).
      await mkdir(join(APP_DIR, 'test-results'), { recursive: true });
      await pageB.screenshot({ path: join(APP_DIR, 'test-results', `phone-${runtime}.png`) });
    }, 60_000);

    it('refuses missing, expired and forged tokens with 401 before upgrading', async () => {
      const ws = `ws://127.0.0.1:${server.port}/ws/chat/${room}`;
      const now = Math.floor(Date.now() / 1000);
      const good = await sign(
        { sub: 'u-test', name: 'Test', iat: now, exp: now + 600 },
        TEST_SECRET,
        'HS256',
      );
      const expired = await sign(
        { sub: 'u-test', name: 'Test', iat: now - 7200, exp: now - 3600 },
        TEST_SECRET,
        'HS256',
      );
      const forged = await sign(
        { sub: 'u-test', name: 'Test', iat: now, exp: now + 600 },
        'not-the-secret',
        'HS256',
      );
      const [header, , signature] = good.split('.');
      const body = Buffer.from(
        JSON.stringify({ sub: 'u-admin', name: 'Admin', iat: now, exp: now + 600 }),
      ).toString('base64url');
      const tampered = `${header}.${body}.${signature}`;

      // The good token is tried in another room, so the people of this one see no visitor.
      expect(await upgradeStatus(`${ws}-probe?token=${good}`)).toBe(101);
      expect(await upgradeStatus(ws)).toBe(401);
      expect(await upgradeStatus(`${ws}?token=${expired}`)).toBe(401);
      expect(await upgradeStatus(`${ws}?token=${forged}`)).toBe(401);
      expect(await upgradeStatus(`${ws}?token=${tampered}`)).toBe(401);

      // In the browser: the socket never opens, and a page holding the forged token is sent
      // back to the sign-in form.
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(server.url);
      const outcome = await page.evaluate(
        (url) =>
          new Promise<{ opened: boolean; code: number }>((resolve) => {
            const socket = new WebSocket(url);
            let opened = false;
            socket.onopen = () => {
              opened = true;
              socket.close();
            };
            socket.onclose = (event) => resolve({ opened, code: event.code });
          }),
        `${ws}?token=${forged}`,
      );
      expect(outcome).toEqual({ opened: false, code: 1006 });
      await page.evaluate(
        (token) =>
          localStorage.setItem(
            'anyws-demo.session',
            JSON.stringify({
              token,
              user: { id: 'u-test', name: 'Test' },
              expiresAt: Date.now() + 600_000,
            }),
          ),
        forged,
      );
      // A fresh load of the room's link (a hash change alone would not reload the page).
      await page.goto(`${server.url}/#/${room}`);
      await page.reload();
      await page.locator('#signin-view').waitFor({ state: 'visible' });
      expect(await page.textContent('#signin-error')).toContain('no longer valid');
      await context.close();
      // The room did not see the refused ones.
      await presence(pageA, ['Ada', 'Bob']);
    }, 60_000);

    it('answers bad input with an error and stays open; closes a flood with 1008', async () => {
      const conn = await connect(
        `ws://127.0.0.1:${server.port}/ws/chat/limits?token=${await tokenFor('Flo')}`,
      );
      await until(conn, (m) => m.type === 'presence');
      const bad: [string, string][] = [
        ['{oops', 'invalid_json'],
        [JSON.stringify({ type: 'shout', text: 'hi' }), 'unknown_type'],
        [JSON.stringify({ type: 'message', text: 'x'.repeat(1001) }), 'too_long'],
      ];
      for (const [text, code] of bad) {
        await conn.sendText(text);
        expect(await until(conn, (m) => m.type === 'error')).toMatchObject({ code });
      }
      await conn.sendJson({ type: 'message', text: 'still here' });
      await until(conn, (m) => m.type === 'message');
      expect(conn.state).toBe('open');
      // Faster than the rate allows (2 a second after a burst of 10, 4 spent above), each sent
      // once the last came back: no message is on its way when the close comes. (Deno resets
      // the TCP connection when data arrives after its close frame, and the peer may then
      // never read that frame.)
      let accepted = 0;
      for (let i = 0; i < 30 && conn.state === 'open'; i++) {
        await conn.sendJson({ type: 'message', text: `flood ${i}` }).catch(() => undefined);
        const reply = await conn.receiveJson<Reply>({ timeout: 5000 }).catch(() => null);
        if (reply?.type === 'message') accepted++;
      }
      await Promise.race([conn.whenClosed, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      expect(accepted).toBeGreaterThanOrEqual(5);
      expect(accepted).toBeLessThan(10);
      expect(conn.closeCode).toBe(1008);
      expect(conn.closeReason).toBe('rate limit exceeded');
    }, 30_000);

    if (options.restart) {
      it('the server restarts: both pages reconnect and keep chatting', async () => {
        const port = server.port;
        await server.stop();
        for (const page of [pageA, pageB]) {
          await page.locator('#state:not([data-state="connected"])').waitFor({ state: 'attached' });
        }
        // Sent while the server is down: the client holds it and sends it after reconnecting.
        await say(pageB, 'sent while the server was down');
        server = await startDemo(runtime, { port });
        await Promise.all([connected(pageA), connected(pageB)]);
        // Bob's page joins before it sends what it held, so Bob sees it; Ada's page may come
        // back a moment later (the room keeps no history), so it is not asked of her.
        expect(await sees(pageB, 'sent while the server was down')).toBe('Bob');
        await presence(pageA, ['Ada', 'Bob']);
        await presence(pageB, ['Ada', 'Bob']);
        await say(pageA, 'Back online, Bob?');
        expect(await sees(pageB, 'Back online, Bob?')).toBe('Ada');
        await say(pageB, 'Yes, still here.');
        expect(await sees(pageA, 'Yes, still here.')).toBe('Bob');
      }, 60_000);
    }

    it('one leaves: the other sees the notice and the presence list shrink', async () => {
      await pageB.click('#leave');
      await pageB.locator('#rooms-view').waitFor({ state: 'visible' });
      await pageB.locator('#state[data-state="offline"]').waitFor({ state: 'attached' });
      await seesNotice(pageA, 'Bob left');
      await presence(pageA, ['Ada']);
      await connected(pageA);
      expect(pageErrors).toEqual([]);
    }, 60_000);

    if (options.hibernation) {
      it("presence survives the room object's hibernation", async () => {
        const url = `ws://127.0.0.1:${server.port}/ws/chat/sleepy`;
        const mark = server.output().length;
        const cy = await connect(`${url}?token=${await tokenFor('Cy')}`);
        const dee = await connect(`${url}?token=${await tokenFor('Dee')}`);
        await until(cy, (m) => m.type === 'presence' && names(m) === 'Cy,Dee');
        await until(dee, (m) => m.type === 'presence' && names(m) === 'Cy,Dee');
        const started = (): number =>
          server.output().match(/chat room object \S+ started/g)?.length ?? 0;
        const before = started();
        // workerd evicts an object after about 10 s without events; the sockets stay open.
        let eve: WebSocketConnection | undefined;
        for (let attempt = 0; attempt < 3 && !eve; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 11_000));
          const probe = await connect(`${url}?token=${await tokenFor(`Eve${attempt}`)}`);
          const list = await until(probe, (m) => m.type === 'presence');
          if (started() > before) {
            // A fresh object answered: it knew Cy and Dee only from their sockets' tags.
            // wrangler dev restarts workerd when a file of the bundle changes (a build running
            // beside the test), which drops every socket: then this run proves nothing.
            expect(server.output().slice(mark), 'wrangler reloaded during the test').not.toContain(
              'Reloading local server',
            );
            expect(names(list)).toBe(`Cy,Dee,Eve${attempt}`);
            eve = probe;
          } else {
            await probe.close();
          }
        }
        expect(eve, 'the room object was evicted and started again').toBeDefined();
        await until(cy, (m) => m.type === 'join' && m.user?.name.startsWith('Eve') === true);
        await dee.sendJson({ type: 'leave' });
        await dee.whenClosed;
        expect(dee.closeCode).toBe(1000);
        await until(cy, (m) => m.type === 'leave' && m.user?.name === 'Dee');
        expect(names(await until(cy, (m) => m.type === 'presence'))).toMatch(/^Cy,Eve\d$/);
        expect([cy.state, eve!.state]).toEqual(['open', 'open']);
        await Promise.all([cy.close(), eve!.close()]);
      }, 60_000);
    }
  });
}

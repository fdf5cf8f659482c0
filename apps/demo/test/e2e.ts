// The end-to-end scenario, run on each runtime in real headless Chromium: two pages sign in,
// join one room, see each other's messages and presence, one leaves; forged, expired and
// missing tokens are refused with 401 before any upgrade; a page that goes offline (network
// emulation) gets the 50 messages it missed after it is back, each once and in order; on Node
// the server restarts under the pages and both reconnect and keep chatting.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ChannelError } from '@anyws/core/channels';
import { connect } from '@anyws/node';
import { sign } from 'hono/jwt';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WsClient from 'ws';
import { LIMITS } from '../src/protocol.js';
import { defineEchoTests } from './echo.js';
import { APP_DIR, type DemoServer, type Runtime, startDemo, TEST_SECRET } from './harness.js';
import { Probe } from './probe.js';

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

export function connected(page: Page): Promise<unknown> {
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

/** A chat client from Node, speaking channels as the page does. */
async function probe(port: number, room: string, name: string): Promise<Probe> {
  return new Probe(
    await connect(`ws://127.0.0.1:${port}/ws/chat/${room}?token=${await tokenFor(name)}`),
  );
}

const names = (users: readonly { name: string }[]): string =>
  users
    .map((u) => u.name)
    .sort()
    .join(',');

/** The texts of the chat messages on the page, top to bottom. */
export function texts(page: Page): Promise<string[]> {
  return page.$$eval('#messages .msg .text', (items) => items.map((i) => i.textContent ?? ''));
}

/**
 * Types `count` messages `<prefix> 1` … on `page` as fast as the form takes them: the page
 * holds them and sends them in order within its share of the server's rate limit. Resolves
 * once the page shows the last one (published, so every one before it is too).
 */
export async function sayMany(page: Page, prefix: string, count: number): Promise<string[]> {
  const sent = Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);
  for (const text of sent) await say(page, text);
  await sees(page, sent.at(-1)!);
  return sent;
}

/** Takes `page` off the network (Chromium's emulation) until the page's client says so. */
export async function goOffline(page: Page): Promise<void> {
  await page.context().setOffline(true);
  // The page's client checks the link when the browser says it is offline: the check fails.
  await page.locator('#state:not([data-state="connected"])').waitFor({ state: 'attached' });
}

/** Puts `page` back on the network; resolves once its client is connected again. */
export async function goOnline(page: Page): Promise<void> {
  await page.context().setOffline(false);
  await connected(page);
}

/** Checks that `page` shows each of `wanted` once, in this order, among its messages. */
export async function showsInOrder(page: Page, wanted: readonly string[]): Promise<void> {
  await sees(page, wanted.at(-1)!);
  const set = new Set(wanted);
  expect((await texts(page)).filter((t) => set.has(t))).toEqual(wanted);
}

/** Registers the scenario for `runtime`. */
export function defineEndToEnd(
  runtime: Runtime,
  options: { restart?: boolean; echo?: boolean; hibernation?: boolean; trimmed?: boolean } = {},
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

    it('a page that was offline gets the 50 messages it missed, once each and in order', async () => {
      await say(pageA, 'before going offline');
      await sees(pageB, 'before going offline');
      await goOffline(pageB);
      const missed = await sayMany(pageA, 'missed', 50);
      await goOnline(pageB);
      await showsInOrder(pageB, ['before going offline', ...missed]);
      // Recovered: no gap to report.
      expect(
        await pageB.locator('#messages .notice', { hasText: 'could not be recovered' }).count(),
      ).toBe(0);
      await say(pageB, 'back and caught up');
      expect(await sees(pageA, 'back and caught up')).toBe('Bob');
    }, 90_000);

    it('answers bad input with an error and stays open; closes a flood with 1008', async () => {
      const flo = await probe(server.port, 'limits', 'Flo');
      await flo.until('presence');
      const errors: string[] = [];
      flo.channels.on('error', (error) => errors.push((error as ChannelError).code));
      const refused = (data: { id: string; text: string }) =>
        flo.channels.request('say', data).then(
          () => 'published',
          (error: ChannelError) => error.code,
        );
      expect(await refused({ id: 'a', text: 'x'.repeat(LIMITS.maxTextLength + 1) })).toBe(
        'invalid_data',
      );
      expect(await refused({ id: 'b', text: '   ' })).toBe('invalid_data');
      await flo.conn.sendText('{oops');
      await flo.conn.sendText('{"v":1,"t":"shout"}');
      await expect.poll(() => errors, { timeout: 10_000 }).toEqual(['not_envelope', 'bad_frame']);
      await flo.join('limits');
      expect(await refused({ id: 'c', text: 'still here' })).toBe('published');
      expect((await flo.publication()).data).toMatchObject({ text: 'still here' });
      expect(flo.conn.state).toBe('open');
      // Faster than the rate allows, each sent once the last was answered: no message is on
      // its way when the close comes. (Deno resets the TCP connection when data arrives after
      // its close frame, and the peer may then never read that frame.)
      let accepted = 0;
      for (let i = 0; i < LIMITS.rateBurst * 3 && flo.conn.state === 'open'; i++) {
        if ((await refused({ id: `f${i}`, text: `flood ${i}` })) === 'published') accepted++;
      }
      await Promise.race([
        flo.conn.whenClosed,
        new Promise((resolve) => setTimeout(resolve, 10_000)),
      ]);
      expect(accepted).toBeGreaterThanOrEqual(5);
      expect(accepted).toBeLessThan(LIMITS.rateBurst);
      expect(flo.conn.closeCode).toBe(1008);
      expect(flo.conn.closeReason).toBe('rate limit exceeded');
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
        // Bob's page joins before it sends what it held, so Bob sees it; Ada's page loads the
        // room's recent messages when it joins, so she sees it too, whichever came first.
        expect(await sees(pageB, 'sent while the server was down')).toBe('Bob');
        expect(await sees(pageA, 'sent while the server was down')).toBe('Bob');
        // One process without Redis keeps the history in memory: the restarted server has a
        // new epoch, and the pages say that what they missed could not be recovered.
        for (const page of [pageA, pageB])
          await page
            .locator('#messages .notice', { hasText: 'could not be recovered' })
            .first()
            .waitFor({ state: 'attached' });
        await presence(pageA, ['Ada', 'Bob']);
        await presence(pageB, ['Ada', 'Bob']);
        await say(pageA, 'Back online, Bob?');
        expect(await sees(pageB, 'Back online, Bob?')).toBe('Ada');
        await say(pageB, 'Yes, still here.');
        expect(await sees(pageA, 'Yes, still here.')).toBe('Bob');
      }, 60_000);
    }

    if (options.trimmed) {
      it('a page whose position is older than the history gets recovered: false and loads the latest', async () => {
        // A server that keeps 10 messages per room: the page misses 15.
        const small = await startDemo(runtime, { env: { HISTORY_LENGTH: '10' } });
        const contexts = await Promise.all([browser.newContext(), browser.newContext()]);
        try {
          const [cy, dee] = await Promise.all(contexts.map((c) => c.newPage()));
          for (const page of [cy!, dee!]) watch(page, pageErrors);
          await signIn(cy!, small.url, 'Cy');
          await joinRoom(cy!, 'trimmed');
          await signIn(dee!, small.url, 'Dee');
          await joinRoom(dee!, 'trimmed');
          await say(cy!, 'seen by both');
          await sees(dee!, 'seen by both');
          await goOffline(dee!);
          const missed = await sayMany(cy!, 'trimmed', 15);
          await goOnline(dee!);
          await seesNotice(
            dee!,
            'Some messages sent while you were away could not be recovered: showing the latest.',
          );
          // The ten the history still holds, once each and in order; the five before them not.
          await showsInOrder(dee!, ['seen by both', ...missed.slice(5)]);
          const shown = new Set(await texts(dee!));
          expect(missed.slice(0, 5).filter((t) => shown.has(t))).toEqual([]);
          // Live again: what comes next arrives as usual.
          await say(cy!, 'after the gap');
          expect(await sees(dee!, 'after the gap')).toBe('Cy');
        } finally {
          await Promise.all(contexts.map((c) => c.close()));
          await small.stop();
        }
      }, 90_000);
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
      it("presence, the room's channel and its history survive the room object's eviction", async () => {
        const mark = server.output().length;
        const cy = await probe(server.port, 'sleepy', 'Cy');
        const dee = await probe(server.port, 'sleepy', 'Dee');
        const both = (m: { data: { users: { name: string }[] } }) =>
          names(m.data.users) === 'Cy,Dee';
        await cy.until('presence', both);
        await dee.until('presence', both);
        await cy.join('sleepy');
        await dee.join('sleepy');
        await dee.channels.request('say', { id: 'z1', text: 'before the room slept' });
        const first = await cy.publication();
        const started = (): number =>
          server.output().match(/chat room object \S+ started/g)?.length ?? 0;
        const before = started();
        // workerd evicts an object after about 10 s without events; the sockets stay open.
        let eve: Probe | undefined;
        for (let attempt = 0; attempt < 3 && !eve; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 11_000));
          const visitor = await probe(server.port, 'sleepy', `Eve${attempt}`);
          const list = await visitor.until('presence');
          if (started() > before) {
            // A fresh object answered: it knew Cy and Dee only from their sockets' tags.
            // wrangler dev restarts workerd when a file of the bundle changes (a build running
            // beside the test), which drops every socket: then this run proves nothing.
            expect(server.output().slice(mark), 'wrangler reloaded during the test').not.toContain(
              'Reloading local server',
            );
            expect(names(list.data.users)).toBe(`Cy,Dee,Eve${attempt}`);
            eve = visitor;
          } else {
            await visitor.conn.close();
          }
        }
        expect(eve, 'the room object was evicted and started again').toBeDefined();
        await cy.until('arrived', (m) => m.data.user.name.startsWith('Eve'));
        // The history is in the object's storage: the fresh object has it, in the same epoch.
        const recent = await eve!.channels.request('recent', {});
        expect(recent.epoch).toBe(first.epoch);
        expect(recent.messages.map((m) => m.message.text)).toEqual(['before the room slept']);
        // Cy joined before the eviction: still a member (its socket's tags), next offset.
        await eve!.channels.request('say', { id: 'z2', text: 'after the room woke' });
        expect(await cy.publication()).toMatchObject({
          epoch: first.epoch,
          offset: first.offset + 1,
          data: { text: 'after the room woke' },
        });
        // Dee's connection is one the woken object rebuilt: channels serve it on its message.
        await dee.channels.send('bye', {});
        await dee.conn.whenClosed;
        expect(dee.conn.closeCode).toBe(1000);
        await cy.until('departed', (m) => m.data.user.name === 'Dee');
        expect(names((await cy.until('presence')).data.users)).toMatch(/^Cy,Eve\d$/);
        expect([cy.conn.state, eve!.conn.state]).toEqual(['open', 'open']);
        await Promise.all([cy.conn.close(), eve!.conn.close()]);
      }, 60_000);
    }
  });
}

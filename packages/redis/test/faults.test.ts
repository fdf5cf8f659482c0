/**
 * Faults on a real redis-server: restarted mid-stream, down, hung (SIGSTOP), never there.
 * A process killed with SIGKILL: multiprocess.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RedisTopicsError } from '../src/index.js';
import { RedisServer } from '../src/testing.js';
import { bus, member, nextText, until, useRedis } from './helpers.js';

const { redis, buses } = useRedis();

describe('faults', () => {
  it('Redis restarted mid-stream: the buses reconnect, resubscribe and write presence again by themselves', async () => {
    const [a, b] = await buses(2, { presenceTtl: 1500 });
    const sub = member(b!, 'on b');
    sub.server.subscribe('stream');
    await until(async () => (await a!.count('stream')) === 1, 'subscriber known');

    const received: number[] = [];
    void (async () => {
      for (;;) {
        const text = await sub.client.receiveText({ timeout: null }).catch(() => null);
        if (text === null) return;
        received.push(Number(text));
      }
    })();

    // Publish all along; restart Redis while the stream runs.
    const failed: RedisTopicsError[] = [];
    let firstAfter = Number.POSITIVE_INFINITY; // the first number published after the restart
    let next = 0;
    const stream = (async () => {
      const deadline = Date.now() + 20_000;
      // Until a message published after the restart reached the subscriber (bounded).
      while (Date.now() < deadline && !received.some((r) => r >= firstAfter)) {
        await a!.publish('stream', String(next++)).catch(async (error: RedisTopicsError) => {
          failed.push(error);
          await new Promise((resolve) => setTimeout(resolve, 20));
        });
      }
    })();
    await until(() => received.length >= 20, 'stream flowing');
    await redis().restart();
    await until(() => a!.connected && b!.connected, 'both reconnected');
    firstAfter = next;
    await stream;

    // Delivered after the restart: the subscriber's channel was subscribed again by itself.
    expect(received.some((r) => r >= firstAfter)).toBe(true);
    // Order held and nothing came twice, across the outage.
    for (let k = 1; k < received.length; k++) expect(received[k]).toBeGreaterThan(received[k - 1]!);
    // What failed, failed loudly, with a typed error; the buses told their onError too.
    for (const error of failed) {
      expect(error).toBeInstanceOf(RedisTopicsError);
      expect(['unavailable', 'timeout']).toContain(error.reason);
    }
    expect(a!.errors.length).toBeGreaterThanOrEqual(failed.length);
    // Presence is back in the fresh Redis (it lost every key), without any new join.
    await until(async () => (await a!.members('stream')).length === 1, 'presence rewritten');
    expect((await a!.members('stream'))[0]?.data).toBe('on b');
    expect(b!.stats.resyncs).toBeGreaterThan(0);
    // Still one subscription per topic: node-redis resubscribed, the bus sent no new SUBSCRIBE.
    expect(b!.stats).toMatchObject({ channels: 1, subscribes: 1 });
    await sub.client.close();
  });

  it('a publish while Redis is down rejects with a typed error at once; local subscribers have it', async () => {
    const [a] = await buses(1);
    const local = member(a!);
    local.server.subscribe('down');
    await redis().stop();
    try {
      await until(() => !a!.connected, 'disconnected');
      const error = await a!.publish('down', 'while down').then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RedisTopicsError);
      expect(error).toMatchObject({ reason: 'unavailable', topic: 'down', delivered: 1 });
      expect(await nextText(local.client)).toBe('while down');
      expect(a!.errors).toContain(error);
      await expect(a!.count('down')).rejects.toBeInstanceOf(RedisTopicsError);

      // Nobody awaits this one: it rejects all the same, and the process does not crash.
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      const before = a!.errors.length;
      void a!.publish('down', 'ignored');
      await until(() => a!.errors.length > before, 'reported to onError');
      await new Promise((resolve) => setImmediate(resolve));
      process.off('unhandledRejection', onUnhandled);
      expect(unhandled).toEqual([]);
    } finally {
      await redis().resume();
    }
    await until(() => a!.connected, 'reconnected');
    expect(await a!.publish('down', 'back')).toBe(1);
  });

  it('while Redis is down, a presence read and close() end within the timeout', async () => {
    const [a] = await buses(1, { timeout: 500 });
    await redis().stop();
    try {
      await until(() => !a!.connected, 'disconnected');
      // Its SUBSCRIBE waits for Redis to come back; a read behind it must not.
      member(a!, 'late').server.subscribe('late');
      await expect(a!.members('late')).rejects.toMatchObject({
        name: 'RedisTopicsError',
        reason: 'unavailable',
      });
      await a!.close();
      expect(a!.connected).toBe(false);
    } finally {
      await redis().resume();
    }
  });

  it('Redis hung (SIGSTOP): a publish rejects with reason timeout within the timeout', async () => {
    const [a] = await buses(1, { timeout: 400 });
    process.kill(redis().pid, 'SIGSTOP');
    try {
      await expect(a!.publish('hung', 'x')).rejects.toMatchObject({
        name: 'RedisTopicsError',
        reason: 'timeout',
      });
    } finally {
      process.kill(redis().pid, 'SIGCONT');
    }
    await until(() => a!.connected, 'connected');
    await until(
      () =>
        a!.publish('hung', 'y').then(
          () => true,
          () => false,
        ),
      'publishing again',
    );
  });

  it('connect to a Redis that is not there rejects with a typed error within the timeout', async () => {
    const nobody = await RedisServer.start();
    const url = nobody.url;
    await nobody.stop();
    const error = await bus(url, { timeout: 500 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisTopicsError);
    expect(error).toMatchObject({ reason: 'unavailable' });
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReceiveTimeoutError, WebSocketError } from '../src/index.js';
import { createPair } from '../src/testing.js';
import { rejection, stateOf, useFakeClock } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('receive timeout', () => {
  it('the receiveTimeout option bounds every receive(): ReceiveTimeoutError, the connection stays usable', async () => {
    useFakeClock();
    const { client, server } = createPair({ server: { receiveTimeout: 100 } });
    const waiting = rejection(server.receive());
    await vi.advanceTimersByTimeAsync(99);
    expect(await stateOf(waiting)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    const error = (await waiting) as ReceiveTimeoutError;
    expect(error).toBeInstanceOf(ReceiveTimeoutError);
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error.timeout).toBe(100);
    expect(error.message).toMatch(/100 ms/);
    expect(server.state).toBe('open');
    // The timed-out reader is gone: a new receive() is allowed and gets the next message.
    await client.sendText('after');
    expect(await server.receiveText()).toBe('after');
  });
  it('receive({ timeout }) overrides the option', async () => {
    useFakeClock();
    const { server } = createPair({ server: { receiveTimeout: 1000 } });
    const waiting = rejection(server.receive({ timeout: 20 }));
    await vi.advanceTimersByTimeAsync(20);
    expect(((await waiting) as ReceiveTimeoutError).timeout).toBe(20);
  });
  it('receive({ timeout: null }) waits without limit despite the option', async () => {
    useFakeClock();
    const { client, server } = createPair({ server: { receiveTimeout: 10 } });
    const waiting = server.receive({ timeout: null });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await stateOf(waiting)).toBe('pending');
    await client.sendText('late');
    expect((await waiting).data).toBe('late');
  });
  it('no timeout by default', async () => {
    useFakeClock();
    const { server } = createPair();
    const waiting = server.receive();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(await stateOf(waiting)).toBe('pending');
  });
  it('a message before the timeout cancels the timer', async () => {
    useFakeClock();
    const { client, server } = createPair({ server: { receiveTimeout: 100 } });
    const waiting = server.receive();
    await vi.advanceTimersByTimeAsync(50);
    await client.sendText('in time');
    expect((await waiting).data).toBe('in time');
    expect(vi.getTimerCount()).toBe(0);
  });
  it('a queued message is returned at once, whatever the timeout', async () => {
    const { client, server } = createPair();
    await client.sendText('queued');
    await Promise.resolve();
    await Promise.resolve();
    expect((await server.receive({ timeout: 1 })).data).toBe('queued');
  });
  it('typed receives take the timeout too', async () => {
    useFakeClock();
    const { server } = createPair();
    const attempts = [rejection(server.receiveText({ timeout: 5 }))];
    await vi.advanceTimersByTimeAsync(5);
    attempts.push(rejection(server.receiveBytes({ timeout: 5 })));
    await vi.advanceTimersByTimeAsync(5);
    attempts.push(rejection(server.receiveJson({ timeout: 5 })));
    await vi.advanceTimersByTimeAsync(5);
    for (const error of await Promise.all(attempts))
      expect(error).toBeInstanceOf(ReceiveTimeoutError);
  });
  it.each([-1, Number.NaN, Infinity, 2 ** 31, 0])(
    'receive({ timeout: %d }) is a RangeError, not an instant timeout',
    async (timeout) => {
      const { client, server } = createPair();
      const error = await rejection(server.receive({ timeout }));
      expect(error).toBeInstanceOf(RangeError);
      // No reader was left behind.
      await client.sendText('x');
      expect(await server.receiveText()).toBe('x');
    },
  );
});

import { describe, expect, it } from 'vitest';
import { type ConnectionOptions, DEFAULT_OPTIONS, resolveOptions } from '../src/index.js';
import { createPair } from '../src/testing.js';

describe('DEFAULT_OPTIONS', () => {
  it('documents every default in one frozen place', () => {
    expect(DEFAULT_OPTIONS).toEqual({
      protocols: [],
      autoping: true,
      autoclose: true,
      heartbeat: null,
      receiveTimeout: null,
      closeTimeout: 10_000,
      maxMessageSize: 4 * 1024 * 1024,
      compress: false,
      highWaterMark: 64 * 1024,
      maxBufferedAmount: 16 * 1024 * 1024,
      slowConsumer: 'close',
      receiveHighWaterMark: 1024 * 1024,
    });
    expect(Object.isFrozen(DEFAULT_OPTIONS)).toBe(true);
  });
  it('is what resolveOptions gives for no options, and what a connection holds', () => {
    expect(resolveOptions()).toEqual(DEFAULT_OPTIONS);
    expect(resolveOptions({})).toEqual(DEFAULT_OPTIONS);
    const { client, server } = createPair();
    expect(client.options).toEqual(DEFAULT_OPTIONS);
    expect(server.options).toEqual(DEFAULT_OPTIONS);
  });
});

describe('resolveOptions', () => {
  it('keeps every given value', () => {
    const given: ConnectionOptions = {
      protocols: ['a', 'b'],
      autoping: false,
      autoclose: false,
      heartbeat: { interval: 1000, timeout: 300 },
      receiveTimeout: 50,
      closeTimeout: 0,
      maxMessageSize: 10,
      compress: true,
      highWaterMark: 0,
      maxBufferedAmount: 100,
      slowConsumer: 'reject',
      receiveHighWaterMark: 7,
    };
    expect(resolveOptions(given)).toEqual(given);
  });
  it('takes a number as the heartbeat interval, with half of it as the pong timeout', () => {
    expect(resolveOptions({ heartbeat: 1000 }).heartbeat).toEqual({ interval: 1000, timeout: 500 });
    expect(resolveOptions({ heartbeat: { interval: 400 } }).heartbeat).toEqual({
      interval: 400,
      timeout: 200,
    });
    expect(resolveOptions({ heartbeat: null }).heartbeat).toBeNull();
    expect(resolveOptions({ receiveTimeout: null }).receiveTimeout).toBeNull();
  });

  const bad: [string, ConnectionOptions, RegExp][] = [
    ['heartbeat 0', { heartbeat: 0 }, /heartbeat.interval/],
    ['heartbeat negative', { heartbeat: -5 }, /heartbeat.interval/],
    ['heartbeat NaN', { heartbeat: { interval: Number.NaN } }, /heartbeat.interval/],
    ['heartbeat timeout 0', { heartbeat: { interval: 100, timeout: 0 } }, /heartbeat.timeout/],
    ['receiveTimeout 0', { receiveTimeout: 0 }, /receiveTimeout/],
    ['receiveTimeout negative', { receiveTimeout: -1 }, /receiveTimeout/],
    ['closeTimeout negative', { closeTimeout: -1 }, /closeTimeout/],
    ['closeTimeout NaN', { closeTimeout: Number.NaN }, /closeTimeout/],
    [
      'maxMessageSize 0',
      { maxMessageSize: 0 },
      /maxMessageSize must be a positive number of bytes/,
    ],
    ['highWaterMark negative', { highWaterMark: -1 }, /highWaterMark/],
    ['maxBufferedAmount 0', { maxBufferedAmount: 0 }, /maxBufferedAmount/],
    ['receiveHighWaterMark 0', { receiveHighWaterMark: 0 }, /receiveHighWaterMark/],
    ['a string for a number', { closeTimeout: '5' as unknown as number }, /closeTimeout/],
  ];
  it.each(bad)('refuses %s with a RangeError', (_name, options, message) => {
    expect(() => resolveOptions(options)).toThrow(RangeError);
    expect(() => resolveOptions(options)).toThrow(message);
  });

  // setTimeout fires at once for delays past 2^31-1 ms (Node warns and uses 1 ms): such a
  // closeTimeout would terminate every close at once instead of waiting.
  it.each([
    ['closeTimeout', { closeTimeout: Infinity }],
    ['closeTimeout', { closeTimeout: 2 ** 31 }],
    ['receiveTimeout', { receiveTimeout: Infinity }],
    ['heartbeat.interval', { heartbeat: Infinity }],
    ['heartbeat.timeout', { heartbeat: { interval: 1000, timeout: 2 ** 32 } }],
  ] as [string, ConnectionOptions][])('refuses a %s a timer cannot hold', (name, options) => {
    expect(() => resolveOptions(options)).toThrow(RangeError);
    expect(() => resolveOptions(options)).toThrow(name);
  });
  it('accepts the longest delay a timer can hold', () => {
    expect(resolveOptions({ closeTimeout: 2 ** 31 - 1 }).closeTimeout).toBe(2 ** 31 - 1);
  });
  it('accepts an unlimited byte size', () => {
    expect(resolveOptions({ maxMessageSize: Infinity }).maxMessageSize).toBe(Infinity);
  });

  it('refuses protocols that are not an array of non-empty strings with a TypeError', () => {
    for (const protocols of [[''], [1], 'chat']) {
      expect(() => resolveOptions({ protocols: protocols as unknown as string[] })).toThrow(
        TypeError,
      );
    }
  });
  it('refuses an unknown slow-consumer policy with a TypeError', () => {
    expect(() => resolveOptions({ slowConsumer: 'drop' as 'close' })).toThrow(TypeError);
    expect(() => resolveOptions({ slowConsumer: 'drop' as 'close' })).toThrow(
      /'close' or 'reject'/,
    );
  });
  it('a bad option fails the connection constructor at once', () => {
    expect(() => createPair({ client: { maxMessageSize: -1 } })).toThrow(RangeError);
  });
});

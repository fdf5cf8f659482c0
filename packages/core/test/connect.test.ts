import { describe, expect, it } from 'vitest';
import {
  clientOpening,
  clientProtocols,
  clientUrl,
  DEFAULT_OPEN_TIMEOUT,
  guardOpening,
  negotiatedProtocol,
  resolveOpenTimeout,
  toWebSocketUrl,
} from '../src/connect.js';
import { HandshakeError, UnsupportedOptionError } from '../src/errors.js';
import { HEARTBEAT_PROTOCOL } from '../src/heartbeat.js';
import type { TransportCapabilities } from '../src/transport.js';

const NO_PINGS: TransportCapabilities = {
  pingFrames: false,
  forcedAutoPong: false,
  forcedCloseReply: true,
  validatesCloseCodes: true,
  enforcesMaxMessageSize: false,
  backpressure: false,
  pauseReading: false,
};

describe('client URLs', () => {
  it('reports ws:/wss: and fetches http:/https:, whatever scheme was given', () => {
    expect(clientUrl('http://127.0.0.1:8080/a?b=1')).toEqual({
      ws: 'ws://127.0.0.1:8080/a?b=1',
      http: 'http://127.0.0.1:8080/a?b=1',
    });
    expect(clientUrl(new URL('wss://example.com/x'))).toEqual({
      ws: 'wss://example.com/x',
      http: 'https://example.com/x',
    });
    expect(clientUrl('https://example.com').ws).toBe('wss://example.com/');
  });

  it('refuses other schemes, fragments and non-URLs with a SyntaxError, as browsers do', () => {
    expect(() => clientUrl('ftp://example.com/')).toThrow(SyntaxError);
    expect(() => clientUrl('ws://example.com/#top')).toThrow(SyntaxError);
    expect(() => clientUrl('ws://example.com/#')).toThrow(SyntaxError);
    expect(() => clientUrl('not a url')).toThrow(SyntaxError);
  });

  it("a server's request URL takes the WebSocket scheme", () => {
    expect(toWebSocketUrl('http://h/p')).toBe('ws://h/p');
    expect(toWebSocketUrl('https://h/p')).toBe('wss://h/p');
    expect(toWebSocketUrl('ws://h/p')).toBe('ws://h/p');
  });
});

describe('the offered subprotocols', () => {
  it('ends with the heartbeat token only where the transport has no ping frames', () => {
    expect(clientProtocols(['chat.v1'], { pingFrames: false })).toEqual([
      'chat.v1',
      HEARTBEAT_PROTOCOL,
    ]);
    expect(clientProtocols([], { pingFrames: false })).toEqual([HEARTBEAT_PROTOCOL]);
    expect(clientProtocols(['chat.v1'], { pingFrames: true })).toEqual(['chat.v1']);
    expect(clientProtocols(['chat.v1'], { pingFrames: false }, false)).toEqual(['chat.v1']);
  });

  it('reports no subprotocol when the server selected the token or none', () => {
    expect(negotiatedProtocol(HEARTBEAT_PROTOCOL)).toBe('');
    expect(negotiatedProtocol(null)).toBe('');
    expect(negotiatedProtocol('chat.v1')).toBe('chat.v1');
  });
});

describe("a client's checks before it opens", () => {
  it('resolves the options, the URL and the offer, and says whether the heartbeat was offered', () => {
    const opening = clientOpening('http://h/x', { protocols: ['chat.v1'] }, NO_PINGS, 'test');
    expect(opening.url).toEqual({ ws: 'ws://h/x', http: 'http://h/x' });
    expect(opening.protocols).toEqual(['chat.v1', HEARTBEAT_PROTOCOL]);
    expect(opening.appHeartbeat).toBe(true);
    expect(opening.options.protocols).toEqual(['chat.v1']);
    const plain = clientOpening('ws://h/', {}, NO_PINGS, 'test', false);
    expect([plain.protocols, plain.appHeartbeat]).toEqual([[], false]);
    const pings = clientOpening('ws://h/', {}, { ...NO_PINGS, pingFrames: true }, 'test');
    expect([pings.protocols, pings.appHeartbeat]).toEqual([[], false]);
  });

  it('refuses an option the runtime cannot honour before it looks at the URL', () => {
    expect(() => clientOpening('ftp://h/', { autoclose: false }, NO_PINGS, 'test')).toThrow(
      UnsupportedOptionError,
    );
    expect(() => clientOpening('ftp://h/', {}, NO_PINGS, 'test')).toThrow(SyntaxError);
    expect(() => clientOpening('ws://h/', { protocols: [''] }, NO_PINGS, 'test')).toThrow(
      TypeError,
    );
  });
});

describe('the opening deadline', () => {
  it('defaults to 10 s and refuses what is not a positive number of ms', () => {
    expect(DEFAULT_OPEN_TIMEOUT).toBe(10_000);
    expect(resolveOpenTimeout({})).toBe(10_000);
    expect(resolveOpenTimeout({ openTimeout: Number.POSITIVE_INFINITY })).toBe(
      Number.POSITIVE_INFINITY,
    );
    for (const bad of [0, -1, Number.NaN, '5' as unknown as number]) {
      expect(() => resolveOpenTimeout({ openTimeout: bad })).toThrow(RangeError);
    }
  });

  it('fails the opening with a HandshakeError once openTimeout has passed', async () => {
    const error = await new Promise<HandshakeError>((resolve) => {
      guardOpening('ws://h/', { openTimeout: 5 }, resolve);
    });
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.message).toMatch(/timed out after 5 ms/);
    expect(error.status).toBeUndefined();
  });

  it('fails it when the signal aborts, with the reason as cause, and only once', async () => {
    const controller = new AbortController();
    const failures: HandshakeError[] = [];
    const failed = new Promise<void>((resolve) => {
      guardOpening('ws://h/', { signal: controller.signal, openTimeout: 60_000 }, (error) => {
        failures.push(error);
        resolve();
      });
    });
    const reason = new Error('user gave up');
    controller.abort(reason);
    controller.abort(new Error('again'));
    await failed;
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(HandshakeError);
    expect(failures[0]?.cause).toBe(reason);
  });

  it('throws at once for a signal that has already aborted', () => {
    const signal = AbortSignal.abort('early');
    expect(() => guardOpening('ws://h/', { signal }, () => undefined)).toThrow(HandshakeError);
  });

  it('does nothing once disarmed', async () => {
    const controller = new AbortController();
    let failed = false;
    const disarm = guardOpening('ws://h/', { signal: controller.signal, openTimeout: 1 }, () => {
      failed = true;
    });
    disarm();
    controller.abort();
    // A timer of 1 ms would have fired by the time a 20 ms one does.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(failed).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import {
  assertSupported,
  resolveOptions,
  type TransportCapabilities,
  UnsupportedOptionError,
} from '../src/index.js';

const FULL: TransportCapabilities = {
  pingFrames: true,
  forcedAutoPong: false,
  forcedCloseReply: false,
  validatesCloseCodes: false,
  enforcesMaxMessageSize: false,
  backpressure: true,
  pauseReading: true,
};

function refusal(fn: () => void): UnsupportedOptionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UnsupportedOptionError);
    return error as UnsupportedOptionError;
  }
  throw new Error('expected an UnsupportedOptionError');
}

describe('assertSupported: an option a runtime cannot honour is refused, never ignored', () => {
  it('the defaults pass on every runtime', () => {
    const none: TransportCapabilities = {
      ...FULL,
      pingFrames: false,
      forcedAutoPong: true,
      forcedCloseReply: true,
      backpressure: false,
      pauseReading: false,
    };
    for (const caps of [FULL, none])
      expect(() => assertSupported(resolveOptions(), caps, 'x')).not.toThrow();
  });
  it('autoclose: false where the runtime answers close frames itself', () => {
    const options = resolveOptions({ autoclose: false });
    expect(() => assertSupported(options, FULL, 'workerd')).not.toThrow();
    const error = refusal(() =>
      assertSupported(options, { ...FULL, forcedCloseReply: true }, 'node'),
    );
    expect([error.option, error.runtime, error.capability]).toEqual([
      'autoclose: false',
      'node',
      'forcedCloseReply',
    ]);
    expect(error.message).toMatch(/autoclose: false is not supported on node/);
  });
  it('an outgoing bound or its policy where sends cannot push back', () => {
    const noBackpressure = { ...FULL, backpressure: false };
    const bound = refusal(() =>
      assertSupported(resolveOptions({ maxBufferedAmount: 1024 }), noBackpressure, 'workerd'),
    );
    expect([bound.option, bound.capability]).toEqual(['maxBufferedAmount', 'backpressure']);
    const policy = refusal(() =>
      assertSupported(resolveOptions({ slowConsumer: 'reject' }), noBackpressure, 'workerd'),
    );
    expect(policy.option).toBe('slowConsumer');
    expect(() =>
      assertSupported(
        resolveOptions({ maxBufferedAmount: 1024, slowConsumer: 'reject' }),
        FULL,
        'node',
      ),
    ).not.toThrow();
  });
  it('compress: true where the runtime has no permessage-deflate', () => {
    const options = resolveOptions({ compress: true });
    expect(() => assertSupported(options, FULL, 'node')).not.toThrow();
    const error = refusal(() => assertSupported(options, { ...FULL, deflate: false }, 'deno'));
    expect([error.option, error.runtime, error.capability]).toEqual([
      'compress: true',
      'deno',
      'deflate',
    ]);
    expect(() =>
      assertSupported(resolveOptions({ compress: false }), { ...FULL, deflate: false }, 'deno'),
    ).not.toThrow();
  });
  it('what is honoured everywhere passes: highWaterMark, receiveHighWaterMark, heartbeat, autoping', () => {
    const bare: TransportCapabilities = {
      ...FULL,
      pingFrames: false,
      forcedAutoPong: true,
      backpressure: false,
      pauseReading: false,
    };
    const options = resolveOptions({
      highWaterMark: 1,
      receiveHighWaterMark: 1024,
      heartbeat: 1000,
      autoping: false,
    });
    expect(() => assertSupported(options, bare, 'workerd')).not.toThrow();
  });
});

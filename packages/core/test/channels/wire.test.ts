import { describe, expect, it } from 'vitest';
import {
  CHANNELS_VERSION,
  ChannelError,
  decodeFrame,
  encodeFrame,
  encodePub,
  type Frame,
} from '../../src/channels/index.js';

function failure(text: string, side: 'client' | 'server') {
  const decoded = decodeFrame(text, side);
  if (decoded === null || 't' in decoded)
    throw new Error(`expected a failure, got ${JSON.stringify(decoded)}`);
  return decoded;
}

describe('the wire envelope', () => {
  it('encodes with the version first, so that every envelope starts with {"v":', () => {
    const text = encodeFrame({ t: 'msg', kind: 'k', data: { a: 1 } });
    expect(text).toBe('{"v":1,"t":"msg","kind":"k","data":{"a":1}}');
    expect(CHANNELS_VERSION).toBe(1);
  });

  it('round-trips every frame a side receives', () => {
    const toServer: Frame[] = [
      { t: 'join', id: 1, ch: 'c' },
      { t: 'join', id: 2, ch: 'c', since: { epoch: 'e', offset: 4 } },
      { t: 'leave', ch: 'c' },
      { t: 'pub', id: 3, ch: 'c', kind: 'k', data: 'x' },
      { t: 'msg', kind: 'k', data: null },
      { t: 'req', id: 4, kind: 'k', data: [1] },
      { t: 'res', id: 5, data: 7 },
      {
        t: 'error',
        code: 'invalid_data',
        message: 'm',
        id: 6,
        issues: [{ message: 'i', path: ['a', 0] }],
      },
    ];
    for (const frame of toServer) expect(decodeFrame(encodeFrame(frame), 'server')).toEqual(frame);
    const toClient: Frame[] = [
      { t: 'joined', id: 1, ch: 'c', epoch: 'e', offset: 0, recovered: false },
      { t: 'joined', ch: 'c', epoch: 'e', offset: 9, recovered: false },
      { t: 'pub', ch: 'c', epoch: 'e', offset: 1, kind: 'k', data: { x: 1 } },
      { t: 'error', code: 'forbidden', message: 'no', ch: 'c', id: 2 },
    ];
    for (const frame of toClient) expect(decodeFrame(encodeFrame(frame), 'client')).toEqual(frame);
  });

  it('encodePub around pre-serialised data is what encodeFrame makes', () => {
    const frame = { t: 'pub', ch: 'c"h', epoch: 'e', offset: 3, kind: 'k' } as const;
    for (const data of [{ a: [1, 'x'] }, null, 'str', undefined]) {
      expect(encodePub('c"h', 'e', 3, 'k', JSON.stringify(data))).toBe(
        encodeFrame({ ...frame, data }),
      );
    }
  });

  it('leaves anything that does not start with {"v": alone (raw)', () => {
    for (const text of ['hello', '{"t":"msg"}', ' {"v":1}', '[1]', ''])
      expect(decodeFrame(text, 'server')).toBeNull();
  });

  it('refuses broken envelopes with bad_frame, keeping the id when it can be read', () => {
    expect(failure('{"v":1', 'server').error.code).toBe('bad_frame');
    expect(failure('{"v":1,"t":"nope"}', 'server').error.code).toBe('bad_frame');
    const noKind = failure('{"v":1,"t":"req","id":7,"kind":""}', 'server');
    expect([noKind.error.code, noKind.id]).toEqual(['bad_frame', 7]);
    expect(failure('{"v":1,"t":"join","id":1,"ch":""}', 'server').id).toBe(1);
    expect(
      failure('{"v":1,"t":"join","id":1,"ch":"c","since":{"epoch":"e","offset":-1}}', 'server')
        .error.code,
    ).toBe('bad_frame');
    expect(failure('{"v":1,"t":"req","id":1.5,"kind":"k"}', 'server').id).toBeUndefined();
    // Frames of the other direction are not taken.
    expect(failure('{"v":1,"t":"join","id":1,"ch":"c"}', 'client').error.code).toBe('bad_frame');
    expect(
      failure(
        '{"v":1,"t":"joined","id":1,"ch":"c","epoch":"e","offset":0,"recovered":true}',
        'server',
      ).error.code,
    ).toBe('bad_frame');
    expect(failure('{"v":1,"t":"error","code":"made_up","message":"m"}', 'server').error.code).toBe(
      'bad_frame',
    );
    expect(failure('{"v":1,"t":"error","code":"timeout","message":"m"}', 'server').error.code).toBe(
      'bad_frame',
    );
  });

  it('keeps only well-formed issues of an error frame', () => {
    const text =
      '{"v":1,"t":"error","code":"invalid_data","message":"m","issues":[{"message":"a","path":["x",1],"extra":1},{"message":"b","path":[{}]},{"no":"message"}]}';
    expect(decodeFrame(text, 'client')).toEqual({
      t: 'error',
      code: 'invalid_data',
      message: 'm',
      issues: [{ message: 'a', path: ['x', 1] }, { message: 'b' }],
    });
  });

  it('refuses another version with unsupported_version', () => {
    const f = failure('{"v":2,"t":"req","id":3,"kind":"k"}', 'server');
    expect(f.error).toBeInstanceOf(ChannelError);
    expect([f.error.code, f.id]).toEqual(['unsupported_version', 3]);
  });
});

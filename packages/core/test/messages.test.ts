import { describe, expect, it } from 'vitest';
import {
  binaryMessage,
  CLOSED_MESSAGE,
  CLOSING_MESSAGE,
  closeMessage,
  decodeUtf8,
  errorMessage,
  jsonText,
  textMessage,
  toBytes,
  WSMsgType,
} from '../src/index.js';
import { controlMessage } from '../src/message.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('message builders', () => {
  it('TEXT carries a string and parses it as JSON', () => {
    const m = textMessage('{"a":[1,2]}');
    expect(m.type).toBe(WSMsgType.TEXT);
    expect(m.data).toBe('{"a":[1,2]}');
    expect(m.extra).toBe('');
    expect(m.json()).toEqual({ a: [1, 2] });
  });
  it('BINARY carries bytes and parses them as UTF-8 JSON', () => {
    const m = binaryMessage(utf8('{"é":true}'));
    expect(m.type).toBe(WSMsgType.BINARY);
    expect(m.data).toEqual(utf8('{"é":true}'));
    expect(m.json()).toEqual({ é: true });
  });
  it('json() takes a custom parser', () => {
    const reviver = (text: string) => ({ raw: text });
    expect(textMessage('x').json(reviver)).toEqual({ raw: 'x' });
    expect(binaryMessage(utf8('y')).json(reviver)).toEqual({ raw: 'y' });
  });
  it('json() throws on invalid JSON and on invalid UTF-8', () => {
    expect(() => textMessage('{nope').json()).toThrow(SyntaxError);
    expect(() => binaryMessage(new Uint8Array([0xff, 0xfe])).json()).toThrow(TypeError);
  });
  it('CLOSE carries the code in data and the reason in extra', () => {
    const m = closeMessage(4001, 'bye');
    expect(m).toEqual({ type: WSMsgType.CLOSE, data: 4001, extra: 'bye' });
  });
  it('PING and PONG carry their payload', () => {
    expect(controlMessage(WSMsgType.PING, utf8('p'))).toEqual({
      type: WSMsgType.PING,
      data: utf8('p'),
      extra: '',
    });
    expect(controlMessage(WSMsgType.PONG, utf8('q')).type).toBe(WSMsgType.PONG);
  });
  it('ERROR carries the error', () => {
    const error = new Error('boom');
    expect(errorMessage(error)).toEqual({ type: WSMsgType.ERROR, data: error, extra: '' });
  });
  it('CLOSING and CLOSED are frozen singletons', () => {
    expect(CLOSING_MESSAGE).toEqual({ type: WSMsgType.CLOSING, data: null, extra: '' });
    expect(CLOSED_MESSAGE).toEqual({ type: WSMsgType.CLOSED, data: null, extra: '' });
    expect(Object.isFrozen(CLOSING_MESSAGE)).toBe(true);
    expect(Object.isFrozen(CLOSED_MESSAGE)).toBe(true);
  });
});

describe('decodeUtf8', () => {
  it('decodes valid UTF-8 and throws a TypeError on invalid input', () => {
    expect(decodeUtf8(utf8('héllo 🎉'))).toBe('héllo 🎉');
    expect(() => decodeUtf8(new Uint8Array([0xc3, 0x28]))).toThrow(TypeError);
  });
});

describe('toBytes', () => {
  it('returns a Uint8Array as it is', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(toBytes(bytes)).toBe(bytes);
  });
  it('views an ArrayBuffer and any ArrayBufferView without copying', () => {
    const buffer = new ArrayBuffer(8);
    const fromBuffer = toBytes(buffer);
    expect(fromBuffer?.buffer).toBe(buffer);
    expect(fromBuffer?.byteLength).toBe(8);
    const view = new DataView(buffer, 2, 4);
    const fromView = toBytes(view);
    expect(fromView?.buffer).toBe(buffer);
    expect(fromView?.byteOffset).toBe(2);
    expect(fromView?.byteLength).toBe(4);
    const words = new Uint16Array([0x0102]);
    expect(toBytes(words)?.byteLength).toBe(2);
  });
  it('returns undefined for anything else', () => {
    for (const value of ['text', 42, null, undefined, {}, [1, 2]])
      expect(toBytes(value)).toBeUndefined();
  });
});

describe('jsonText', () => {
  it('serialises as sendJson does, with a custom stringify too', () => {
    expect(jsonText({ a: [1] })).toBe('{"a":[1]}');
    expect(jsonText(2, (value) => `<${String(value)}>`)).toBe('<2>');
  });
  it('a TypeError naming what does not serialise, with the cause when stringify throws', () => {
    expect(() => jsonText(undefined)).toThrow(/undefined does not serialise to JSON text/);
    expect(() => jsonText(() => 1)).toThrow(TypeError);
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    let error: unknown;
    try {
      jsonText(cyclic);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });
});

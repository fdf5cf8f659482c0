/**
 * One published message on a Redis channel: a JSON header, a newline, then the payload bytes
 * as they were published (UTF-8 for text). The header never holds a raw newline (JSON escapes
 * it), so the first newline ends it. Version 1; a message of another version is dropped.
 */
import { Buffer } from 'node:buffer';

/** The header of a message on the wire. */
export interface WireHeader {
  /** Wire version: 1. */
  v: 1;
  /** The bus (process) that published it. */
  o: string;
  /** Excluded connection ids, when any. */
  x?: string[];
  /** 1 when the payload is binary. */
  b?: 1;
  /** The publish's `compress` option, when given. */
  c?: boolean;
}

/** A decoded message. */
export interface WireMessage {
  origin: string;
  exclude: string[] | undefined;
  data: string | Uint8Array;
  compress: boolean | undefined;
}

const NEWLINE = 0x0a;
const decoder = new TextDecoder();

/** Encodes a message for PUBLISH. */
export function encode(
  origin: string,
  data: string | Uint8Array,
  exclude: readonly string[],
  compress: boolean | undefined,
): Buffer {
  const header: WireHeader = { v: 1, o: origin };
  if (exclude.length > 0) header.x = [...exclude];
  if (typeof data !== 'string') header.b = 1;
  if (compress !== undefined) header.c = compress;
  const head = `${JSON.stringify(header)}\n`;
  if (typeof data === 'string') return Buffer.from(head + data, 'utf8');
  const headBytes = Buffer.from(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes.length + data.byteLength);
  headBytes.copy(out, 0);
  out.set(data, headBytes.length);
  return out;
}

/** Decodes a message from a channel; null for anything this version does not understand. */
export function decode(message: Uint8Array): WireMessage | null {
  const end = message.indexOf(NEWLINE);
  if (end < 0) return null;
  let header: Partial<WireHeader>;
  try {
    header = JSON.parse(decoder.decode(message.subarray(0, end))) as Partial<WireHeader>;
  } catch {
    return null;
  }
  if (header.v !== 1 || typeof header.o !== 'string') return null;
  // A plain Uint8Array view (not node's Buffer): what subscribers get is the same on every runtime.
  const body = new Uint8Array(
    message.buffer,
    message.byteOffset + end + 1,
    message.byteLength - end - 1,
  );
  return {
    origin: header.o,
    exclude: Array.isArray(header.x) ? header.x.filter((id) => typeof id === 'string') : undefined,
    data: header.b === 1 ? body : decoder.decode(body),
    compress: typeof header.c === 'boolean' ? header.c : undefined,
  };
}

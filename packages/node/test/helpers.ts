import type { Socket } from 'node:net';
import type { WebSocketConnection } from '@anyws/core';
import { expect } from 'vitest';
import { connect } from '../src/index.js';

/** Opens a client, sends `text` and expects it back: proof that a server still serves. */
export async function expectEcho(url: string, text = 'still serving'): Promise<void> {
  const conn = await connect(url);
  await conn.sendText(text);
  expect(await conn.receiveText({ timeout: 5000 })).toBe(text);
  await conn.close();
}

/** The next `count` text messages. */
export async function texts(conn: WebSocketConnection<unknown>, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(await conn.receiveText({ timeout: 5000 }));
  return out;
}

/** Counts the writes a socket hands to the OS from now on (`_write` and `_writev` calls). */
export function countWrites(socket: Socket): { readonly count: number } {
  const counter = { count: 0 };
  const target = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  for (const name of ['_write', '_writev'] as const) {
    const original = target[name];
    target[name] = function (this: unknown, ...args: unknown[]) {
      counter.count++;
      return original.apply(this, args);
    };
  }
  return counter;
}

/**
 * Sends binary and text messages of each size to an echo and expects them back intact: text
 * of two-byte characters (plus one ASCII), so byte and unit counts differ past 127.
 */
export async function expectEchoOfSizes(
  conn: WebSocketConnection<unknown>,
  sizes: readonly number[],
): Promise<void> {
  for (const size of sizes) {
    const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
    await conn.sendBytes(bytes);
    expect(await conn.receiveBytes({ timeout: 5000 })).toEqual(bytes);
    const text = 'é'.repeat(size >> 1) + 'a'.repeat(size & 1);
    await conn.sendText(text);
    expect(await conn.receiveText({ timeout: 5000 })).toBe(text);
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

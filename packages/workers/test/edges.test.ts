/**
 * @anyws/workers at its edge, in real workerd: a room's `maxConnections` (503 with
 * `Retry-After` before upgrading, tested with the limit plus 10), `conn.url` with the
 * WebSocket scheme, and `conn.request` in a room.
 */
import { randomBytes } from 'node:crypto';
import { type Socket, connect as tcpConnect } from 'node:net';
import { connect } from '@anyws/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerd, type Workerd } from './helpers/workerd.js';

let workerd: Workerd;
beforeAll(async () => {
  workerd = await startWorkerd();
});
afterAll(() => workerd?.dispose());

/** Sends an upgrade request by hand; resolves with the answer's head and the open socket. */
function handshakeHead(path: string): Promise<{ head: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port: workerd.port });
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${path}`));
    }, 5000);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      resolve({ head: received.slice(0, end), socket });
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${String(workerd.port)}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
        'Sec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

describe('a room with maxConnections = 20', () => {
  it('upgrades 20, refuses the next 10 with 503 and Retry-After before upgrading, serves on', async () => {
    const sockets: Socket[] = [];
    const statuses: number[] = [];
    const retryAfter: string[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        const { head, socket } = await handshakeHead('/limited/full/ws');
        sockets.push(socket);
        statuses.push(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]));
        const retry = /^retry-after:\s*(\S+)/im.exec(head)?.[1];
        if (retry) retryAfter.push(retry);
      }
      expect(statuses.slice(0, 20)).toEqual(new Array(20).fill(101));
      expect(statuses.slice(20)).toEqual(new Array(10).fill(503));
      expect(retryAfter).toEqual(new Array(10).fill('1'));
      // Another room is not affected.
      const other = await connect(`${workerd.ws}/limited/other/ws`);
      await other.sendText('hi');
      expect(await other.receiveText({ timeout: 5000 })).toBe('hi');
      await other.close();
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

describe('conn.url and conn.request', () => {
  it('a room connection reports ws:// and reads its upgrade request', async () => {
    const conn = await connect(`${workerd.ws}/limited/req/ws?q=1`, { headers: { 'x-a': 'yes' } });
    await conn.sendText('request');
    expect(await conn.receiveText({ timeout: 5000 })).toBe(
      `${workerd.http}/limited/req/ws?q=1 yes ${workerd.ws}/limited/req/ws?q=1`,
    );
    await conn.close();
  });

  it('a hibernatable room connection (hooks) reports ws://', async () => {
    const conn = await connect(`${workerd.ws}/room/url-check/probe?user=u`);
    await conn.receiveText({ timeout: 5000 });
    await conn.sendText('whoami');
    const who = JSON.parse(await conn.receiveText({ timeout: 5000 })) as { url: string };
    expect(who.url).toBe(`${workerd.ws}/room/url-check/probe?user=u`);
    await conn.close();
  });
});

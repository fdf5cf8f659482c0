/**
 * Channels in a plain Worker in real workerd (Miniflare): a client whose connection drops
 * reconnects with its position and gets every publication made meanwhile (by another client,
 * through the Worker), once and in order, over the isolate's MemoryHistory; then live ones.
 * The clients are @anyws/node's.
 */
import { fileURLToPath } from 'node:url';
import { ChannelClient, type JoinResult, type Publication } from '@anyws/core/channels';
import { chatMessages as messages, wireOffsets } from '@anyws/core/contract';
import { connect } from '@anyws/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { range, until } from './helpers/channels.js';
import { startWorkerd, type Workerd } from './helpers/workerd.js';

let workerd: Workerd;
beforeAll(async () => {
  workerd = await startWorkerd(
    fileURLToPath(new URL('./fixtures/channels-worker.ts', import.meta.url)),
  );
});
afterAll(() => workerd?.dispose());

describe('channels in a plain Worker (workerd)', () => {
  it('a dropped client reconnects with its position and gets each missed message once, in order', async () => {
    const url = `${workerd.ws}/channels`;
    const members = async () => Number(await (await fetch(`${workerd.http}/members`)).text());
    const sender = new ChannelClient({ messages }, await connect(url));
    const senderRoom = sender.channel('room');
    await senderRoom.join();

    const reader = new ChannelClient({ messages });
    const conn = await connect(url);
    const before = wireOffsets(conn);
    reader.attach(conn);
    const room = reader.channel('room');
    const got: Publication<typeof messages>[] = [];
    const joins: JoinResult[] = [];
    room.on('publication', (p) => got.push(p));
    room.on('joined', (r) => joins.push(r));
    expect((await room.join()).recovered).toBe(false);
    const { epoch } = joins[0]!;

    for (const i of range(1, 3)) await senderRoom.publish('chat', { text: `m${String(i)}` });
    await until(() => got.length === 3, 'three live publications');

    // The reader's connection is cut; the Worker takes it out of the channel.
    conn.terminate();
    await until(async () => (await members()) === 1, 'the Worker to see the drop');
    for (const i of range(4, 30)) await senderRoom.publish('chat', { text: `m${String(i)}` });

    const conn2 = await connect(url);
    const after = wireOffsets(conn2);
    reader.attach(conn2);
    await until(() => got.length === 30, 'the missed publications');
    await senderRoom.publish('chat', { text: 'm31' });
    await until(() => got.length === 31, 'a live publication after the recovery');

    expect(got.map((p) => p.offset)).toEqual(range(1, 31));
    expect(got.map((p) => p.data.text)).toEqual(range(1, 31).map((i) => `m${String(i)}`));
    expect(new Set(got.map((p) => p.epoch))).toEqual(new Set([epoch]));
    expect(before).toEqual([1, 2, 3]);
    expect(after).toEqual(range(4, 31));
    expect(joins.map((j) => [j.recovered, j.offset])).toEqual([
      [false, 0],
      [true, 3],
    ]);
    await Promise.all([sender.connection?.close(), reader.connection?.close()]);
  });
});

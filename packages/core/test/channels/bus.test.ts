/**
 * A bus that loses or reorders publications (as Pub/Sub across processes can): the feed notices
 * the gap by offset and fills it from the history, so members still get every offset once, in
 * order.
 */
import { describe, expect, it } from 'vitest';
import { LocalTopics, type PublishOptions } from '../../src/index.js';
import { connectTo, makeServer, record, wireOffsets } from './setup.js';

/** LocalTopics whose publishes the test can drop or hold back. */
class UnreliableBus extends LocalTopics {
  /** Called per publish: 'drop', 'hold' (sent at the next release) or 'send'. */
  fate: (n: number) => 'drop' | 'hold' | 'send' = () => 'send';
  #count = 0;
  #held: [string, string | Uint8Array, PublishOptions | undefined][] = [];
  override publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number {
    const fate = this.fate(++this.#count);
    if (fate === 'drop') return 0;
    if (fate === 'hold') {
      this.#held.push([topic, data, options]);
      return 0;
    }
    return super.publish(topic, data, options);
  }
  release(): void {
    for (const [topic, data, options] of this.#held.splice(0)) super.publish(topic, data, options);
  }
}

const text = (i: number) => ({ text: `m${String(i)}` });

describe('channels over an unreliable bus', () => {
  it('a lost publication is filled from the history when the next one shows the gap', async () => {
    const bus = new UnreliableBus();
    const server = makeServer({ bus });
    const { client, serverTransport } = connectTo(server);
    const room = client.channel('room');
    const got = record(room);
    await room.join();
    bus.fate = (n) => (n === 2 || n === 3 ? 'drop' : 'send');
    for (let i = 1; i <= 5; i++) await server.publish('room', 'chat', text(i));
    await got.count(5);
    expect(got.offsets()).toEqual([1, 2, 3, 4, 5]);
    expect(wireOffsets(serverTransport)).toEqual([1, 2, 3, 4, 5]);
  });

  it('publications out of order are put back in order, each once', async () => {
    const bus = new UnreliableBus();
    const server = makeServer({ bus });
    const a = connectTo(server);
    const b = connectTo(server);
    const [ra, rb] = [a.client.channel('room'), b.client.channel('room')];
    const [got, gotB] = [record(ra), record(rb)];
    await ra.join();
    await rb.join();
    bus.fate = (n) => (n === 1 || n === 2 ? 'hold' : 'send');
    for (let i = 1; i <= 4; i++) await server.publish('room', 'chat', text(i));
    await got.count(4); // 3 showed the gap: 1 and 2 came from the history
    bus.release(); // the late 1 and 2 arrive: duplicates now
    await server.publish('room', 'chat', text(5));
    await got.count(5);
    await gotB.count(5);
    for (const link of [a, b]) expect(wireOffsets(link.serverTransport)).toEqual([1, 2, 3, 4, 5]);
    expect(gotB.offsets()).toEqual([1, 2, 3, 4, 5]);
  });
});

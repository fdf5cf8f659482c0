import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryHistory } from '../../src/channels/index.js';
import { useFakeClock } from '../helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

const fixed = () => new MemoryHistory({ epoch: (channel) => `e-${channel}` });

describe('MemoryHistory', () => {
  it('appends with consecutive offsets from 1, per channel, in one epoch', async () => {
    const h = fixed();
    expect(await h.append('a', 'k', 1)).toEqual({ epoch: 'e-a', offset: 1 });
    expect(await h.append('a', 'k', 2)).toEqual({ epoch: 'e-a', offset: 2 });
    expect(await h.append('b', 'k', 3)).toEqual({ epoch: 'e-b', offset: 1 });
  });

  it('reads what came after a position, in order; nothing when at the top', async () => {
    const h = fixed();
    for (let i = 1; i <= 5; i++) await h.append('a', 'k', i);
    const read = await h.read('a', { epoch: 'e-a', offset: 2 });
    expect(read).toEqual({
      recovered: true,
      epoch: 'e-a',
      offset: 5,
      entries: [3, 4, 5].map((o) => ({ offset: o, kind: 'k', data: o })),
    });
    expect(await h.read('a', { epoch: 'e-a', offset: 5 })).toEqual({
      recovered: true,
      epoch: 'e-a',
      offset: 5,
      entries: [],
    });
  });

  it('without a position, ahead of the channel, or of another epoch: not recovered, with the top', async () => {
    const h = fixed();
    await h.append('a', 'k', 1);
    const notRecovered = { recovered: false, epoch: 'e-a', offset: 1 };
    expect(await h.read('a')).toEqual(notRecovered);
    expect(await h.read('a', { epoch: 'e-a', offset: 2 })).toEqual(notRecovered);
    expect(await h.read('a', { epoch: 'other', offset: 0 })).toEqual(notRecovered);
    // A channel never published on: its epoch at offset 0, and a client there recovers.
    expect(await h.read('new')).toEqual({ recovered: false, epoch: 'e-new', offset: 0 });
    expect(await h.read('new', { epoch: 'e-new', offset: 0 })).toMatchObject({
      recovered: true,
      entries: [],
    });
  });

  it('keeps at most maxLength publications: a position before them is not recovered', async () => {
    const h = new MemoryHistory({ maxLength: 3, epoch: () => 'e' });
    for (let i = 1; i <= 10; i++) await h.append('a', 'k', i);
    expect(await h.read('a', { epoch: 'e', offset: 6 })).toEqual({
      recovered: false,
      epoch: 'e',
      offset: 10,
    });
    const read = await h.read('a', { epoch: 'e', offset: 7 });
    expect(read.recovered && read.entries.map((e) => e.offset)).toEqual([8, 9, 10]);
  });

  it('drops publications older than maxAge (fake clock); the position survives them', async () => {
    useFakeClock();
    const h = new MemoryHistory({ maxAge: 1000, epoch: () => 'e' });
    await h.append('a', 'k', 1);
    vi.advanceTimersByTime(600);
    await h.append('a', 'k', 2);
    vi.advanceTimersByTime(500); // 1 is 1,100 ms old, 2 is 500 ms
    expect(await h.read('a', { epoch: 'e', offset: 0 })).toMatchObject({
      recovered: false,
      offset: 2,
    });
    const read = await h.read('a', { epoch: 'e', offset: 1 });
    expect(read.recovered && read.entries.map((e) => e.data)).toEqual([2]);
    vi.advanceTimersByTime(2000);
    // Everything aged out, yet a client that had seen it all missed nothing.
    expect(await h.read('a', { epoch: 'e', offset: 2 })).toMatchObject({
      recovered: true,
      entries: [],
    });
    expect(await h.read('a', { epoch: 'e', offset: 1 })).toMatchObject({ recovered: false });
    expect(await h.append('a', 'k', 3)).toEqual({ epoch: 'e', offset: 3 });
  });

  it('a long run stays bounded and correct across compactions', async () => {
    const h = new MemoryHistory({ maxLength: 50, epoch: () => 'e' });
    for (let i = 1; i <= 1000; i++) await h.append('a', 'k', i);
    const read = await h.read('a', { epoch: 'e', offset: 960 });
    expect(read.recovered && read.entries.map((e) => e.offset)).toEqual(
      Array.from({ length: 40 }, (_, i) => 961 + i),
    );
  });

  it('reset starts a new epoch; random epochs differ between histories', async () => {
    let n = 0;
    const h = new MemoryHistory({ epoch: () => `e${String(++n)}` });
    await h.append('a', 'k', 1);
    h.reset('a');
    expect(await h.append('a', 'k', 2)).toEqual({ epoch: 'e2', offset: 1 });
    const [x, y] = [new MemoryHistory(), new MemoryHistory()];
    const [px, py] = [await x.append('a', 'k', 0), await y.append('a', 'k', 0)];
    expect(px.epoch).toMatch(/^[0-9a-f]{16}$/);
    expect(px.epoch).not.toBe(py.epoch);
  });

  it('refuses bad bounds', () => {
    expect(() => new MemoryHistory({ maxLength: -1 })).toThrow(RangeError);
    expect(() => new MemoryHistory({ maxLength: 1.5 })).toThrow(RangeError);
    expect(() => new MemoryHistory({ maxAge: Number.NaN })).toThrow(RangeError);
  });
});

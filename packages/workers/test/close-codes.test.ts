/**
 * The peer's close frame, on raw TCP: the answer is the peer's code (a frame without a body is
 * answered without one), or 1002 for a code that may not be received; 1005, 1006 and 1015 are
 * never sent (workerd throws on them). Both forms: a plain Worker (accept with allowHalfOpen)
 * and a room (Hibernation API, answered in webSocketClose).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFrame, closeCodeOf, closePayload, rawHandshake, readFrames } from './helpers/raw.js';
import { startWorkerd, type Workerd } from './helpers/workerd.js';

let workerd: Workerd;
beforeAll(async () => {
  workerd = await startWorkerd();
});
afterAll(() => workerd?.dispose());

const cases: [sent: number | undefined, answer: number][] = [
  [1000, 1000],
  [4001, 4001],
  [3000, 3000],
  [1014, 1014],
  [undefined, 1005],
  [0, 1002],
  [999, 1002],
  [1004, 1002],
  // workerd reports a frame with 1005 in it as a frame without a body (as it does a 1-byte
  // one): not visible above it, so it is answered as one.
  [1005, 1005],
  [1006, 1002],
  [1015, 1002],
  [1016, 1002],
  [2999, 1002],
  [5000, 1002],
];

async function answerTo(path: string, code: number | undefined, reason = ''): Promise<number[]> {
  const client = await rawHandshake(`${workerd.ws}${path}`);
  client.socket.write(clientFrame(0x8, closePayload(code, reason)));
  const frames = await readFrames(client, (frame) => frame.opcode === 0x8);
  client.socket.destroy();
  return frames.filter((frame) => frame.opcode === 0x8).map(closeCodeOf);
}

for (const [form, path] of [
  ['plain Worker', '/plain/echo'],
  ['room', '/room/close-codes/echo'],
] as const) {
  describe(`the answer to the peer's close frame: ${form}`, () => {
    for (const [sent, answer] of cases) {
      it(`${sent === undefined ? 'no body' : String(sent)} → ${String(answer)}`, async () => {
        expect(await answerTo(path, sent, sent === undefined ? '' : 'bye')).toEqual([answer]);
      });
    }
  });
}

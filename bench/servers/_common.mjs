// Shared by the Node servers: the port to listen on, the compression switch, the ready line,
// and a garbage collection on SIGUSR2 (run with --expose-gc) so RSS is read without garbage.
//
// Every server speaks the same small protocol: any path echoes each message back unchanged
// (text as text, binary as binary); `/sub` subscribes the connection to the one topic;
// each message sent on `/pub` is broadcast to every subscriber. COMPRESS=1 turns on
// permessage-deflate for every message, however small.

import { writeFileSync } from 'node:fs';
import { heapFile } from '../lib/proc.mjs';

/** The port to listen on: PORT, or 0 for a free one. */
export const port = Number(process.env.PORT ?? 0);
/** Whether permessage-deflate is offered. */
export const compress = process.env.COMPRESS === '1';
export const HOST = '127.0.0.1';

/** Tells the bench runner the server listens. */
export function ready(actualPort) {
  process.stdout.write(`ready ${actualPort}\n`);
}

const gc = globalThis.gc;
if (typeof gc === 'function') {
  process.on('SIGUSR2', () => {
    // Twice: objects with finalizers or weak references die in the second.
    gc();
    gc();
    writeFileSync(heapFile(process.pid), String(process.memoryUsage().heapUsed));
  });
}
process.on('SIGTERM', () => process.exit(0));

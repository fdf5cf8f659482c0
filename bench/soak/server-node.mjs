// The soak's Node server: @anyws/node `serve()` on 127.0.0.1 with a pull-API echo session.
// It prints `ready <port>`, then answers each `stats` line on stdin with one `stats {json}`
// line measured after two full garbage collections (run with --expose-gc).
import { createInterface } from 'node:readline';
import { serve } from '@anyws/node';

const server = await serve({
  hostname: '127.0.0.1',
  port: 0,
  handler: {
    async session(conn) {
      for await (const message of conn) await conn.send(message.data);
    },
  },
});

/** Active handles and requests by kind ('TCPSocketWrap', 'Timeout', …). */
function resources() {
  const counts = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Listeners on the HTTP server, by event: what each attach or connection might leave behind. */
function listeners() {
  const counts = {};
  for (const name of server.server.eventNames()) {
    counts[String(name)] = server.server.listenerCount(name);
  }
  return counts;
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'stats') return;
  globalThis.gc?.();
  globalThis.gc?.();
  const memory = process.memoryUsage();
  const stats = {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    connections: server.connections.size,
    resources: resources(),
    listeners: listeners(),
  };
  process.stdout.write(`stats ${JSON.stringify(stats)}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdout.write(`ready ${server.port}\n`);

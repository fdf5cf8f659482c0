// The soak's Deno server: @anyws/deno `serve()` on 127.0.0.1 with a pull-API echo session.
// It prints `ready <port>`, then answers each `stats` line on stdin with one `stats {json}`
// line measured after two full garbage collections (run with --v8-flags=--expose-gc).
import process from 'node:process';
import { serve } from '@anyws/deno';

const server = await serve({
  hostname: '127.0.0.1',
  port: 0,
  handler: {
    async session(conn) {
      for await (const message of conn) await conn.send(message.data);
    },
  },
});

/** What Deno's node:process reports as active (timers; Deno 2 has no `Deno.resources()`). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function control(): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
      if (line !== 'stats') continue;
      gc?.();
      gc?.();
      const memory = Deno.memoryUsage();
      const stats = {
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        external: memory.external,
        connections: server.connections.size,
        resources: resources(),
      };
      console.log(`stats ${JSON.stringify(stats)}`);
    }
  }
  Deno.exit(0);
}

console.log(`ready ${String(server.port)}`);
await control();

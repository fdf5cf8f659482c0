/**
 * Real processes on one real Redis: three Node processes (@anyws/node) and one Deno process
 * (@anyws/deno, the deno binary from npm), each serving the same room (fixtures/app.mjs) on a
 * RedisTopics. Clients (@anyws/node's) connect to every process. Needs `dist/` (turbo builds
 * it before `test`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WebSocketConnection } from '@anyws/core';
import { connect } from '@anyws/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../src/testing.js';
import { until } from './helpers.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
// The binary itself, not node_modules/.bin's wrapper (a signal to the wrapper would not reach it).
const DENO = join(dirname(createRequire(import.meta.url).resolve('deno/package.json')), 'deno');
const PRESENCE_TTL = 1500;

interface ServerProcess {
  name: string;
  child: ChildProcess;
  port: number;
  processId: string;
}

async function start(name: string, command: string, args: string[], redisUrl: string) {
  const child = spawn(command, args, {
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      PRESENCE_TTL: String(PRESENCE_TTL),
      DENO_NO_UPDATE_CHECK: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /READY (\d+) (\S+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[0]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${String(code)}):\n${output}`));
    });
  });
  const [, port, processId] = line.split(' ');
  return { name, child, port: Number(port), processId: processId! } satisfies ServerProcess;
}

/** A client of one process: what it received, split into published messages and replies. */
class Client {
  readonly messages: string[] = [];
  readonly replies: Record<string, unknown>[] = [];
  id = '';
  closeCode: number | null = null;
  constructor(
    readonly server: ServerProcess,
    readonly conn: WebSocketConnection<unknown>,
  ) {
    void this.#read();
  }
  static async open(server: ServerProcess, user: string): Promise<Client> {
    const conn = await connect(`ws://127.0.0.1:${String(server.port)}/room?user=${user}`);
    const client = new Client(server, conn);
    client.id = ((await client.ask({ op: 'id' })) as { id: string }).id;
    return client;
  }
  async #read(): Promise<void> {
    for await (const message of this.conn) {
      if (message.type !== 0x1) continue;
      if (message.data.startsWith('m:')) this.messages.push(message.data);
      else {
        try {
          this.replies.push(JSON.parse(message.data) as Record<string, unknown>);
        } catch {
          this.replies.push({ unexpected: message.data });
        }
      }
    }
    this.closeCode = this.conn.closeCode;
  }
  /** Sends a command and waits for its reply (commands of one client are answered in order). */
  async ask(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const before = this.replies.length;
    await this.conn.sendText(JSON.stringify(command));
    await until(() => this.replies.length > before, `reply to ${JSON.stringify(command)}`);
    return this.replies[before]!;
  }
}

describe('three Node processes and one Deno process on one Redis', () => {
  let redis: RedisServer;
  const servers: ServerProcess[] = [];
  const clients: Client[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    servers.push(
      ...(await Promise.all([
        start('node-1', process.execPath, [fixture('node-server.mjs')], redis.url),
        start('node-2', process.execPath, [fixture('node-server.mjs')], redis.url),
        start('node-3', process.execPath, [fixture('node-server.mjs')], redis.url),
        start('deno', DENO, ['run', '-A', fixture('deno-server.mjs')], redis.url),
      ])),
    );
    // Two clients on each process.
    for (const server of servers) {
      for (const n of [1, 2]) clients.push(await Client.open(server, `${server.name}/${n}`));
    }
    await until(async () => {
      const reply = await clients[0]!.ask({ op: 'members' });
      return (reply.members as unknown[]).length === clients.length;
    }, 'every subscriber in presence');
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.conn.close()));
    await Promise.allSettled(
      servers.map(async (s) => {
        if (s.child.exitCode !== null || s.child.signalCode !== null) return;
        const exited = once(s.child, 'exit');
        s.child.kill('SIGTERM');
        await exited;
      }),
    );
    await redis?.stop();
  });

  it('presence lists every connection of every process with its context', async () => {
    const reply = await clients[7]!.ask({ op: 'members' });
    const members = reply.members as [string, string][];
    expect(members.map(([id]) => id).sort()).toEqual(clients.map((c) => c.id).sort());
    expect(members.map(([, user]) => user).sort()).toEqual(
      servers.flatMap((s) => [`${s.name}/1`, `${s.name}/2`]).sort(),
    );
    // Ids are unique across processes.
    expect(new Set(clients.map((c) => c.id)).size).toBe(clients.length);
  });

  /**
   * One publisher per process publishes `n` messages, all at once; every other client gets each
   * exactly once and in order, the sender none, and each publish is counted for the seven others.
   */
  async function everyoneOnce(tag: string, n = 40): Promise<void> {
    for (const c of clients) c.messages.length = 0;
    const publishers = servers.map((_, i) => clients[i * 2]!);
    const text = (p: Client, i: number) => `m:${tag}:${p.server.name}:${String(i)}`;
    const acks = await Promise.all(
      publishers.map(async (p) => {
        const counts: unknown[] = [];
        for (let i = 0; i < n; i++) {
          const reply = await p.ask({ op: 'pub', text: text(p, i) });
          counts.push(reply.ack ?? reply.error);
        }
        return counts;
      }),
    );
    for (const counts of acks) expect(counts).toEqual(Array(n).fill(clients.length - 1));
    for (const c of clients) {
      const expected = publishers.filter((p) => p !== c).length * n;
      await until(() => c.messages.length >= expected, `${c.server.name} client gets ${expected}`);
      for (const p of publishers) {
        const from = c.messages.filter((m) => m.startsWith(`m:${tag}:${p.server.name}:`));
        // Exactly once and in order; nothing to the sender (excluded).
        expect(from).toEqual(p === c ? [] : Array.from({ length: n }, (_, i) => text(p, i)));
      }
      expect(c.messages.filter((m) => m.startsWith(`m:${tag}:`)).length).toBe(expected);
    }
  }

  it('a publish reaches every subscriber exactly once, in order per publisher, never the sender', async () => {
    await everyoneOnce('first');
  });

  it('Redis restarted under the four processes: they reconnect, resubscribe, write presence again; exactly once again', async () => {
    await redis.restart();
    // Presence is back in the fresh Redis: every process wrote its members again by itself.
    await until(
      async () => {
        const reply = await clients[1]!.ask({ op: 'members' }).catch(() => ({ members: [] }));
        return Array.isArray(reply.members) && reply.members.length === clients.length;
      },
      'presence rewritten after the restart',
      20_000,
    );
    // Subscriptions in place again everywhere: a probe from each process reaches all others
    // (a publish before its bus is back is refused with an error reply, and tried again).
    const publishers = servers.map((_, i) => clients[i * 2]!);
    let probe = 0;
    for (const p of publishers) {
      await until(
        async () => {
          const mark = `m:probe:${String(probe++)}`;
          await p.ask({ op: 'pub', text: mark });
          const others = clients.filter((c) => c !== p);
          try {
            await until(() => others.every((c) => c.messages.includes(mark)), 'probe', 500);
            return true;
          } catch {
            return false;
          }
        },
        `a probe from ${p.server.name} reaches everyone`,
        20_000,
      );
    }
    await everyoneOnce('after-restart');
  });

  it('exclude by id holds across processes (Node excludes a Deno connection and the reverse)', async () => {
    for (const c of clients) c.messages.length = 0;
    const [nodePublisher, denoPublisher] = [clients[0]!, clients[6]!];
    const [denoTarget, nodeTarget] = [clients[7]!, clients[3]!];
    expect(
      (await nodePublisher.ask({ op: 'pub', text: 'm:x1', exclude: [denoTarget.id] })).ack,
    ).toBe(6);
    expect(
      (await denoPublisher.ask({ op: 'pub', text: 'm:x2', exclude: [nodeTarget.id] })).ack,
    ).toBe(6);
    // Markers from the same publishers: per-publisher order makes them arrive after.
    await nodePublisher.ask({ op: 'pub', text: 'm:end1' });
    await denoPublisher.ask({ op: 'pub', text: 'm:end2' });
    for (const c of clients) {
      const ends = ['m:end1', 'm:end2'].filter(
        (e) => !(c === nodePublisher && e === 'm:end1') && !(c === denoPublisher && e === 'm:end2'),
      );
      await until(() => ends.every((e) => c.messages.includes(e)), 'markers');
      expect(c.messages.includes('m:x1')).toBe(c !== nodePublisher && c !== denoTarget);
      expect(c.messages.includes('m:x2')).toBe(c !== denoPublisher && c !== nodeTarget);
    }
  });

  it('a process killed with SIGKILL loses only its own connections; its presence expires', async () => {
    for (const c of clients) c.messages.length = 0;
    const victim = servers[1]!; // node-2
    const exited = once(victim.child, 'exit');
    victim.child.kill('SIGKILL');
    await exited;
    const lost = clients.filter((c) => c.server === victim);
    const kept = clients.filter((c) => c.server !== victim);
    for (const c of lost) await until(() => c.closeCode !== null, 'victim clients closed');
    for (const c of lost) expect(c.closeCode).toBe(1006);
    for (const c of kept) expect(c.conn.state).toBe('open');

    // Presence drops the dead process's members within the TTL (bounded wait: 3 TTLs).
    const started = Date.now();
    await until(
      async () =>
        ((await kept[0]!.ask({ op: 'members' })).members as unknown[]).length === kept.length,
      'dead members expired',
      3 * PRESENCE_TTL + 2000,
    );
    const members = (await kept[5]!.ask({ op: 'members' })).members as [string, string][];
    expect(members.map(([id]) => id).sort()).toEqual(kept.map((c) => c.id).sort());
    expect(Date.now() - started).toBeLessThan(3 * PRESENCE_TTL + 2000);

    // The others go on: counts no longer include the dead, everyone alive gets the message.
    expect((await kept[0]!.ask({ op: 'pub', text: 'm:after' })).ack).toBe(kept.length - 1);
    for (const c of kept.slice(1)) await until(() => c.messages.includes('m:after'), 'after');
  });
});

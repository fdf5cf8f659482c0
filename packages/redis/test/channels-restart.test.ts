/**
 * Recovery across a server restart, with real processes on a real Redis: a Node process serves
 * channels (ChannelServer + RedisTopics + RedisHistory); a client joins; the process is killed
 * (SIGKILL) and started again on the same port while another process publishes; the client
 * reconnects with its position and gets each missed publication once, in order, then live ones.
 * Needs `dist/` (turbo builds it before `test`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChannelClient, type JoinResult } from '@anyws/core/channels';
import { chatMessages as messages, wireOffsets } from '@anyws/core/contract';
import { connect } from '@anyws/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../src/testing.js';
import { record } from './channels-setup.js';
import { until } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/channel-server.mjs', import.meta.url));
// The binary itself, not node_modules/.bin's wrapper (a signal to the wrapper would not reach it).
const DENO = join(dirname(createRequire(import.meta.url).resolve('deno/package.json')), 'deno');

/** One process of the fixture, and the lines it printed. */
class ServerProcess {
  readonly lines: string[] = [];
  #output = '';
  #partial = '';
  readonly exited: Promise<unknown>;
  private constructor(readonly child: ChildProcess) {
    this.exited = once(child, 'exit');
    child.stdout?.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString();
      const parts = (this.#partial + chunk.toString()).split('\n');
      this.#partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString();
    });
  }

  static async start(
    redisUrl: string,
    port = 0,
    runtime: 'node' | 'deno' = 'node',
  ): Promise<{ process: ServerProcess; port: number }> {
    const [command, args] =
      runtime === 'node' ? [process.execPath, [FIXTURE]] : [DENO, ['run', '-A', FIXTURE]];
    const child = spawn(command, args, {
      env: { ...process.env, REDIS_URL: redisUrl, PORT: String(port), DENO_NO_UPDATE_CHECK: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    process.once('exit', () => child.kill('SIGKILL'));
    const server = new ServerProcess(child);
    const ready = await server.line(/^READY (\d+)$/, 20_000);
    return { process: server, port: Number(ready[1]) };
  }

  /** Waits (bounded) for a line matching `pattern` that was not matched before. */
  async line(pattern: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    let match: RegExpExecArray | null = null;
    await until(
      () => {
        if (this.child.exitCode !== null) throw new Error(`process exited:\n${this.#output}`);
        const index = this.lines.findIndex((l) => pattern.test(l));
        if (index === -1) return false;
        match = pattern.exec(this.lines.splice(0, index + 1)[index]!);
        return true;
      },
      `a line ${String(pattern)} from the server process`,
      ms,
    );
    return match!;
  }

  /** Publishes `m<from>`…`m<to>` on `channel` from this process; resolves with the last offset. */
  async publish(channel: string, from: number, to: number): Promise<number> {
    this.child.stdin?.write(`pub ${channel} ${String(from)} ${String(to)}\n`);
    return Number((await this.line(/^PUBBED \S+ (\d+)$/))[1]);
  }

  kill(): Promise<unknown> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Ends it the way it ends itself: stdin closed. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin?.end();
    await this.exited;
  }
}

describe('channels across a server restart (Node processes, one Redis)', () => {
  let redis: RedisServer;
  const processes: ServerProcess[] = [];
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await Promise.allSettled(processes.map((p) => p.stop()));
    await redis?.stop();
  });

  it('a client reconnects to the restarted process with its position: each missed message once, in order', async () => {
    const first = await ServerProcess.start(redis.url);
    processes.push(first.process);
    const url = `ws://127.0.0.1:${String(first.port)}/`;

    const client = new ChannelClient({ messages });
    const conn = await connect(url);
    const before = wireOffsets(conn);
    client.attach(conn);
    const room = client.channel('room');
    const got = record(room);
    const joins: JoinResult[] = [];
    room.on('joined', (r) => joins.push(r));
    expect((await room.join()).recovered).toBe(false);
    expect(await first.process.publish('room', 1, 3)).toBe(3);
    await got.count(3);

    // The server process dies; another process publishes while it is down.
    await first.process.kill();
    await until(() => conn.closed, 'the client to see its server die');
    const publisher = await ServerProcess.start(redis.url);
    processes.push(publisher.process);
    expect(await publisher.process.publish('room', 4, 53)).toBe(53);

    // The server comes back on the same port; the client reconnects and attaches.
    const again = await ServerProcess.start(redis.url, first.port);
    processes.push(again.process);
    expect(again.port).toBe(first.port);
    const conn2 = await connect(url);
    const after = wireOffsets(conn2);
    client.attach(conn2);
    await got.count(53);
    expect(joins.at(-1)).toMatchObject({ recovered: true, offset: 3 });

    // Live again: a publication of the other process reaches the client through Redis.
    expect(await publisher.process.publish('room', 54, 54)).toBe(54);
    await got.count(54);
    const all = Array.from({ length: 54 }, (_, i) => i + 1);
    expect(got.offsets()).toEqual(all);
    expect(got.texts()).toEqual(all.map((i) => `m${String(i)}`));
    // Once on the wire too, not only after the client's own check.
    expect(before).toEqual([1, 2, 3]);
    expect(after).toEqual(all.slice(3));
    await conn2.close();
  });

  it('across runtimes: the Node process dies, the client recovers from a Deno process, then gets live ones from Node', async () => {
    const node = await ServerProcess.start(redis.url);
    processes.push(node.process);
    const client = new ChannelClient({ messages });
    client.attach(await connect(`ws://127.0.0.1:${String(node.port)}/`));
    const room = client.channel('mixed');
    const got = record(room);
    await room.join();
    await node.process.publish('mixed', 1, 2);
    await got.count(2);

    await node.process.kill();
    await until(() => client.connection === null, 'the client to see its server die');
    const deno = await ServerProcess.start(redis.url, 0, 'deno');
    processes.push(deno.process);
    expect(await deno.process.publish('mixed', 3, 22)).toBe(22);

    const conn = await connect(`ws://127.0.0.1:${String(deno.port)}/`);
    const wire = wireOffsets(conn);
    const joined = new Promise<JoinResult>((resolve) => room.on('joined', resolve));
    client.attach(conn);
    expect(await joined).toMatchObject({ recovered: true, offset: 2 });
    await got.count(22);
    // A Node process publishes; the Deno process's members get it through Redis.
    const other = await ServerProcess.start(redis.url);
    processes.push(other.process);
    expect(await other.process.publish('mixed', 23, 23)).toBe(23);
    await got.count(23);
    const all = Array.from({ length: 23 }, (_, i) => i + 1);
    expect(got.offsets()).toEqual(all);
    expect(got.texts()).toEqual(all.map((i) => `m${String(i)}`));
    expect(wire).toEqual(all.slice(2));
    await conn.close();
  }, 60_000);

  it('a client whose position the restarted Redis no longer holds is told recovered: false', async () => {
    const server = await ServerProcess.start(redis.url);
    processes.push(server.process);
    const url = `ws://127.0.0.1:${String(server.port)}/`;
    const client = new ChannelClient({ messages });
    client.attach(await connect(url));
    const room = client.channel('lost');
    const got = record(room);
    const first = await room.join();
    await server.process.publish('lost', 1, 2);
    await got.count(2);

    // Redis restarts without persistence while the client is away: its history is gone.
    client.connection?.terminate();
    await redis.restart();
    // The server's history reconnects by itself: a publish succeeds once it has.
    const failures: string[] = [];
    await until(
      async () => {
        server.process.child.stdin?.write('pub lost 1 1\n');
        const [line = ''] = await server.process.line(/^(PUBBED|FAILED) .*$/);
        if (line.startsWith('FAILED')) failures.push(line);
        return line.startsWith('PUBBED');
      },
      'the server to publish on the restarted Redis',
      20_000,
    );
    // Each failure while Redis came back was a typed error, not a hang or a crash.
    for (const failure of failures) expect(failure).toMatch(/^FAILED Redis(History|Topics)Error$/);

    const joined = new Promise<JoinResult>((resolve) => room.on('joined', resolve));
    client.attach(await connect(url));
    const result = await joined;
    expect(result.recovered).toBe(false);
    expect(result.epoch).not.toBe(first.epoch);
    expect(room.position).toEqual({ epoch: result.epoch, offset: result.offset });
    await client.connection?.close();
  });
});

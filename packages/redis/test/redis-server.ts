/**
 * A real `redis-server` (Debian's) for one test file: on a free loopback port, no persistence,
 * stopped after. `restart()` stops it (losing all data, as a real restart without persistence
 * does) and starts it again on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A running redis-server. */
export class RedisServer {
  readonly port: number;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  /** Starts one on a free port; resolves once it accepts connections. */
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.#spawn();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${String(this.port)}`;
  }

  /** The server's pid (for SIGSTOP/SIGCONT in tests). */
  get pid(): number {
    const pid = this.#child?.pid;
    if (pid === undefined) throw new Error('redis-server is not running');
    return pid;
  }

  async #spawn(): Promise<void> {
    const child = spawn(
      BINARY,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
        '--loglevel',
        'notice',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    // Should the test process end without stopping it (a failed hook), do not leave it behind.
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    child.once('exit', () => process.off('exit', kill));
    let output = '';
    let early = (_code: number | null): void => undefined;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start in 10 s:\n${output}`)),
        10_000,
      );
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      early = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${String(code)}):\n${output}`));
      };
      child.once('exit', early);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    child.off('exit', early);
  }

  /** Stops it (SIGKILL: nothing is saved, clients see the connection drop). */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** Stops it and starts a fresh one on the same port (all data gone). */
  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }

  /** Starts it again after `stop()`. */
  async resume(): Promise<void> {
    await this.#spawn();
  }
}

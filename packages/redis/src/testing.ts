/**
 * A real `redis-server` (Debian's, or `REDIS_SERVER`) for tests, benches and demos: on a free
 * loopback port unless told one, no persistence, killed with the process that started it.
 * `restart()` stops it (losing all data, as a real restart without persistence does) and starts
 * it again on the same port. Node only (it spawns a process).
 *
 * ```ts
 * import { RedisServer } from '@anyws/redis/testing';
 * const redis = await RedisServer.start();
 * const topics = new RedisTopics({ url: redis.url });
 * // …
 * await redis.stop();
 * ```
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

/** Where {@link RedisServer.start} listens. */
export interface RedisServerOptions {
  /** Default: a free port. */
  port?: number;
  /** The address it binds. Default 127.0.0.1. */
  host?: string;
}

/** A running redis-server. */
export class RedisServer {
  readonly port: number;
  readonly host: string;
  #child: ChildProcess | undefined;

  private constructor(port: number, host: string) {
    this.port = port;
    this.host = host;
  }

  /**
   * Starts one; resolves once it accepts connections. Rejects when it cannot run (no
   * `redis-server` on the PATH: the error says so), exits, or is not ready within 10 s.
   */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(options.port ?? (await freePort()), options.host ?? '127.0.0.1');
    await server.#spawn();
    return server;
  }

  /** `redis://host:port`. */
  get url(): string {
    return `redis://${this.host}:${String(this.port)}`;
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
        this.host,
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
        reject(
          new Error(`cannot run ${BINARY} (apt-get install redis-server): ${error.message}`, {
            cause: error,
          }),
        );
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

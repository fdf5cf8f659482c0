// `pnpm demo:cluster`: the chat as three processes on one Redis: Node on 8787 and 8788, Deno on
// 8789 (PORTS=a,b,c changes them). A user on one process chats with users on the others, and the
// room's presence lists them all. REDIS_URL points at an existing Redis; without it, a Redis on
// 127.0.0.1:6379 (REDIS_PORT changes it) is used when one answers there, else a redis-server is
// started on that port (no persistence) and stopped with the cluster. Ctrl-C stops everything.
// A process that stops cleanly (`kill <pid>`: it closes its connections with 1001 and exits 0) is
// started again: its pages reconnect and recover what they missed from the Redis streams. One
// that fails (another exit status) stops the cluster.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisServer } from '@anyws/redis/testing';

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
// The deno binary itself (not node_modules/.bin's wrapper, which a signal would not pass through).
const DENO = join(dirname(createRequire(import.meta.url).resolve('deno/package.json')), 'deno');
const DEFAULT_REDIS = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379) };

const ports = (process.env.PORTS ?? '8787,8788,8789').split(',').map(Number);
if (ports.length !== 3 || ports.some((p) => !Number.isInteger(p) || p < 0 || p > 65_535)) {
  console.error(`PORTS must be three ports, e.g. 8787,8788,8789; got ${process.env.PORTS}`);
  process.exit(1);
}

/** Whether a Redis answers PING at host:port (bounded: 1 s). */
function redisAnswers({ host, port }) {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    socket.once('error', () => done(false));
  });
}

/** The redis-server this script started, if it started one. */
let redisServer;
let redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  redisUrl = `redis://${DEFAULT_REDIS.host}:${DEFAULT_REDIS.port}`;
  if (await redisAnswers(DEFAULT_REDIS)) console.log(`[cluster] using the Redis at ${redisUrl}`);
  else {
    try {
      redisServer = await RedisServer.start(DEFAULT_REDIS);
    } catch (error) {
      console.error(`[cluster] ${error.message} (or set REDIS_URL)`);
      process.exit(1);
    }
    console.log(`[cluster] started redis-server at ${redisUrl} (stopped with the cluster)`);
  }
} else console.log(`[cluster] using REDIS_URL ${redisUrl}`);

const members = [
  {
    name: 'node',
    port: ports[0],
    command: process.execPath,
    args: [join(APP_DIR, 'dist', 'node.js')],
  },
  {
    name: 'node',
    port: ports[1],
    command: process.execPath,
    args: [join(APP_DIR, 'dist', 'node.js')],
  },
  {
    name: 'deno',
    port: ports[2],
    command: DENO,
    args: [
      'run',
      '--node-modules-dir=manual',
      '--allow-net',
      '--allow-env',
      '--allow-read',
      join(APP_DIR, 'dist', 'deno.js'),
    ],
  },
];

let stopping = false;
const children = [];

async function stop(code) {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }),
  );
  await redisServer?.stop();
  process.exit(code);
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

let listening = 0;
function start(member) {
  const label = `[${member.name}:${member.port}]`;
  const child = spawn(member.command, member.args, {
    cwd: APP_DIR,
    env: { ...process.env, REDIS_URL: redisUrl, PORT: String(member.port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let announced = false;
  const prefix = (stream, out) => {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        out.write(`${label} ${line}\n`);
        if (!announced && /listening on http:/.test(line)) {
          announced = true;
          out.write(
            `${label} pid ${child.pid} (kill it: it starts again, and its pages miss nothing)\n`,
          );
          if (++listening === members.length) {
            console.log(
              `[cluster] ready: ${members.map((m) => `http://127.0.0.1:${m.port}`).join('  ')}`,
            );
          }
        }
      }
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  child.once('exit', (code, signal) => {
    children.splice(children.indexOf(child), 1);
    if (stopping) return;
    if (code === 0) {
      console.log(`${label} stopped: starting it again`);
      start(member);
      return;
    }
    console.error(`${label} exited (${signal ?? code}): stopping the cluster`);
    void stop(1);
  });
}
for (const member of members) start(member);

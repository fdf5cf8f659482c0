// `pnpm -F @anyws/bench bench:cluster`: broadcast across processes on one Redis, never part of
// `pnpm test`. Subscribers spread over two server processes, the publisher on a third:
//   anyws-redis     @anyws/node + @anyws/redis (RedisTopics), servers/anyws-redis.mjs ×3
//   socketio-redis  socket.io 4.8 + @socket.io/redis-adapter 8.3, servers/socketio-redis.mjs ×3
//   anyws-local     one @anyws/node process with LocalTopics (servers/anyws-node.mjs), all
//                   subscribers and the publisher on it: the single-process reference
// The publisher keeps WINDOW broadcasts in flight; deliveries per second are counted at the
// subscribers (this process) over a window, and the CPU of the server processes and of
// redis-server over the same window (/proc). Rounds interleave the systems.
// Flags: --subs N (1000), --rounds N (2), --seconds S (5), --window W (8), --holders 1 (every
// subscriber on the first process), --no-write.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisServer } from '@anyws/redis/testing';
import { sioDriver, wsDriver } from './lib/drivers.mjs';
import { cpuMicros, machine, machineBusyMicros, ownCpuMicros } from './lib/proc.mjs';
import { fmt, median } from './lib/stats.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, '..', 'docs', 'bench');
const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const SUBS = flag('subs', 1000);
const ROUNDS = flag('rounds', 2);
const SECONDS = flag('seconds', 5);
const WINDOW = flag('window', 8);
const WARMUP_MS = 1000;
const MESSAGE = `{"type":"message","room":"bench","text":"${'x'.repeat(128 - 44)}"}`;

const SYSTEMS = {
  'anyws-redis': { script: 'anyws-redis.mjs', kind: 'ws', processes: 3 },
  'socketio-redis': { script: 'socketio-redis.mjs', kind: 'sio', processes: 3 },
  'anyws-local': { script: 'anyws-node.mjs', kind: 'ws', processes: 1 },
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a child and resolves with it once it printed `pattern` (bounded). */
async function startChild(command, args, env, pattern) {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  let output = '';
  const match = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${args.join(' ')} did not start:\n${output}`)),
      20_000,
    );
    const onData = (chunk) => {
      output += chunk;
      const found = pattern.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code}):\n${output}`));
    });
  });
  return { child, match };
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** One measurement of one system; the Redis is shared by the run. */
async function measure(name, redis) {
  const system = SYSTEMS[name];
  const servers = [];
  const closers = [];
  try {
    for (let i = 0; i < system.processes; i++) {
      const { child, match } = await startChild(
        process.execPath,
        ['--expose-gc', join(HERE, 'servers', system.script)],
        { PORT: '0', REDIS_URL: redis.url },
        /ready (\d+)/,
      );
      servers.push({ child, port: Number(match[1]) });
    }
    const driverOf = (server) =>
      system.kind === 'sio' ? sioDriver(server.port) : wsDriver(server.port, false);
    // Subscribers on the first two processes (or the only one), the publisher on the last.
    const holders =
      servers.length === 1 || flag('holders', 2) === 1 ? [servers[0]] : [servers[0], servers[1]];
    let delivered = 0;
    let published = 0;
    let pump = () => {};
    for (const [i, holder] of holders.entries()) {
      const count = Math.floor(SUBS / holders.length) + (i === 0 ? SUBS % holders.length : 0);
      const group = await (await driverOf(holder)).subscribers({ count, compress: false });
      group.onDeliver(() => {
        delivered++;
        pump();
      });
      closers.push(group.close);
    }
    const publisher = await (await driverOf(servers[servers.length - 1])).publisher();
    closers.push(publisher.close);

    // Every subscription in place (across processes too): one broadcast reaches all.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const before = delivered;
      publisher.publish(MESSAGE);
      published++;
      const until = Date.now() + 1000;
      while (delivered - before < SUBS && Date.now() < until) await sleep(10);
      if (delivered - before >= SUBS) break;
      if (Date.now() > deadline) throw new Error(`${name}: not every subscriber gets broadcasts`);
    }
    // Let stragglers of the warm-up in before counting.
    while (delivered < published * SUBS && Date.now() < deadline) await sleep(10);
    delivered = published * SUBS;

    // WINDOW broadcasts in flight: a new one whenever one (in deliveries) has been received.
    let running = true;
    pump = () => {
      while (running && published * SUBS - delivered < WINDOW * SUBS) {
        publisher.publish(MESSAGE);
        published++;
      }
    };
    pump();
    await sleep(WARMUP_MS);
    const pids = servers.map((s) => s.child.pid);
    const serverCpu = () => pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
    const t0 = performance.now();
    const d0 = delivered;
    const s0 = serverCpu();
    const each0 = pids.map((pid) => cpuMicros(pid));
    const r0 = cpuMicros(redis.pid);
    const o0 = ownCpuMicros();
    const m0 = machineBusyMicros();
    await sleep(SECONDS * 1000);
    const wallUs = (performance.now() - t0) * 1000;
    const count = delivered - d0;
    const serverUs = serverCpu() - s0;
    const eachUs = pids.map((pid, i) => cpuMicros(pid) - each0[i]);
    const redisUs = cpuMicros(redis.pid) - r0;
    const ownUs = ownCpuMicros() - o0;
    const foreignUs = machineBusyMicros() - m0 - serverUs - redisUs - ownUs;
    running = false;
    // Nothing lost: every broadcast published reaches every subscriber (bounded wait).
    const drain = Date.now() + 10_000;
    while (delivered < published * SUBS && Date.now() < drain) await sleep(10);
    return {
      system: name,
      deliveriesPerSec: count / (wallUs / 1e6),
      serverUsPerDelivery: serverUs / count,
      // Per server process (subscriber holders first, the publisher's last), µs per delivery.
      perProcessUs: eachUs.map((us) => us / count),
      redisUsPerDelivery: redisUs / count,
      serverCpu: serverUs / wallUs,
      redisCpu: redisUs / wallUs,
      generatorCpu: ownUs / wallUs,
      foreignCpu: Math.max(0, foreignUs / wallUs),
      lost: published * SUBS - delivered,
    };
  } finally {
    for (const close of closers) close();
    await Promise.all(servers.map((s) => stopChild(s.child)));
  }
}

async function main() {
  const redis = await RedisServer.start();
  const runs = [];
  try {
    const names = Object.keys(SYSTEMS);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length];
        const result = await measure(name, redis);
        result.round = round;
        runs.push(result);
        console.log(
          `round ${round + 1} ${name}: ${fmt(result.deliveriesPerSec)} deliveries/s, ` +
            `${fmt(result.serverUsPerDelivery, 2)} µs server (${result.perProcessUs.map((us) => fmt(us, 2)).join(' + ')}) + ${fmt(result.redisUsPerDelivery, 2)} µs redis CPU per delivery, ` +
            `generator ${fmt(result.generatorCpu, 2)} cores, others ${fmt(result.foreignCpu, 2)}, lost ${result.lost}`,
        );
      }
    }
  } finally {
    await redis.stop();
  }

  const summary = {};
  for (const name of Object.keys(SYSTEMS)) {
    const mine = runs.filter((r) => r.system === name);
    summary[name] = {
      deliveriesPerSec: median(mine.map((r) => r.deliveriesPerSec)),
      serverUsPerDelivery: median(mine.map((r) => r.serverUsPerDelivery)),
      redisUsPerDelivery: median(mine.map((r) => r.redisUsPerDelivery)),
      generatorCpu: median(mine.map((r) => r.generatorCpu)),
      foreignCpu: median(mine.map((r) => r.foreignCpu)),
      lost: Math.max(...mine.map((r) => r.lost)),
    };
  }
  const a = summary['anyws-redis'];
  const s = summary['socketio-redis'];
  const l = summary['anyws-local'];
  const totalUs = (x) => x.serverUsPerDelivery + x.redisUsPerDelivery;
  const ratios = {
    deliveriesVsSocketIo: a.deliveriesPerSec / s.deliveriesPerSec,
    cpuPerDeliveryVsSocketIo: totalUs(s) / totalUs(a),
    deliveriesVsLocal: a.deliveriesPerSec / l.deliveriesPerSec,
    cpuPerDeliveryVsLocal: totalUs(a) / totalUs(l),
  };
  const env = machine();
  const lines = [
    '# Broadcast across processes on Redis',
    '',
    `${SUBS} subscribers (two server processes, half each), the publisher on a third process, one`,
    `redis-server ${''}(no persistence) for all; ${WINDOW} broadcasts of 128 B text in flight; ${SECONDS} s`,
    `measured after ${WARMUP_MS / 1000} s; median of ${ROUNDS} interleaved rounds. \`anyws-local\` is one process`,
    'with LocalTopics holding every subscriber and the publisher. Generator: this process',
    '(@anyws/bench lib clients; socket.io-client for socket.io). Server CPU: all server processes;',
    'Redis CPU: the redis-server process; both per delivery.',
    '',
    `Machine: ${env.cpu}, ${env.cores} cores, Node ${env.node}. Shared with other work while it ran:`,
    "the 'others' column is the CPU other processes took (cores).",
    '',
    '| system | deliveries/s | server µs/delivery | Redis µs/delivery | generator cores | others | lost |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...Object.entries(summary).map(
      ([name, x]) =>
        `| ${name} | ${fmt(x.deliveriesPerSec)} | ${fmt(x.serverUsPerDelivery, 2)} | ${fmt(x.redisUsPerDelivery, 2)} | ${fmt(x.generatorCpu, 2)} | ${fmt(x.foreignCpu, 2)} | ${x.lost} |`,
    ),
    '',
    `- anyws-redis vs socket.io + redis-adapter: **${fmt(ratios.deliveriesVsSocketIo, 2)}×** the deliveries per second (target ≥ 3×: ${ratios.deliveriesVsSocketIo >= 3 ? 'PASS' : 'MISS'}), ${fmt(ratios.cpuPerDeliveryVsSocketIo, 2)}× less CPU (server + Redis) per delivery.`,
    `- anyws-redis vs one process with LocalTopics: ${fmt(ratios.deliveriesVsLocal, 2)}× the deliveries per second, ${fmt(ratios.cpuPerDeliveryVsLocal, 2)}× the CPU per delivery.`,
    '',
    'Deliveries per second swing with the CPU that other processes take (see the runs); CPU per',
    'delivery is the steadier figure. Spread over two processes, each subscriber process gets half',
    'the broadcasts per wake-up, so fewer frames share a write: `--holders 1` puts every subscriber',
    'on one process (same CPU per delivery as one process with LocalTopics, plus the publisher).',
    '',
    'Runs (server CPU per process: the subscriber processes, then the publisher):',
    '',
    ...runs.map(
      (r) =>
        `- round ${r.round + 1}, ${r.system}: ${fmt(r.deliveriesPerSec)}/s, ${fmt(r.serverUsPerDelivery, 2)} µs (${r.perProcessUs.map((us) => fmt(us, 2)).join(' + ')}) + ${fmt(r.redisUsPerDelivery, 2)} µs Redis, generator ${fmt(r.generatorCpu, 2)}, others ${fmt(r.foreignCpu, 2)}, lost ${r.lost}`,
    ),
    '',
  ];
  const report = lines.join('\n');
  console.log(`\n${report}`);
  if (!argv.includes('--no-write')) {
    await mkdir(OUT, { recursive: true });
    await writeFile(join(OUT, 'cluster.md'), report);
    await writeFile(
      join(OUT, 'cluster.json'),
      `${JSON.stringify({ machine: env, params: { SUBS, ROUNDS, SECONDS, WINDOW }, summary, ratios, runs }, null, 2)}\n`,
    );
  }
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

// `pnpm bench:recovery`: recovery of missed messages after a reconnect, anyws channels against
// socket.io's connection state recovery, in one run, on one redis-server this script starts
// (Debian's, no persistence, a free 127.0.0.1 port) and stops. Never part of `pnpm test`.
//   anyws     @anyws/node + ChannelServer with RedisHistory (a stream per channel) and
//             RedisTopics (recovery/anyws-server.mjs), driven by ChannelClient
//   socketio  socket.io 4.8 + connectionStateRecovery + @socket.io/redis-streams-adapter 0.3 (one
//             stream for all rooms; recovery/socketio-server.mjs), driven by socket.io-client
// One measurement: a fresh server process on a flushed Redis; M clients, each in its own
// channel/room, get one live message; their connections drop; N messages are published on each
// client's own channel and RATIO × as many on 100 other channels nobody is in; the clients
// reconnect all at once. Measured from the reconnect until every client has its N messages:
// the time, and the CPU of the server process and of redis-server per recovered message. Then
// one more live message per client: each must have exactly 1..N+1 in order, nothing else.
// Flags: --clients M (10), --missed N (25), --ratios 0,10,100, --rounds R (5), --no-write,
// --sio-maxlen L (1,000,000: the socket.io stream's bound).
// Bounded: whole rounds while one more fits in 165 s (none starts after); each wait has a deadline.
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisServer } from '@anyws/redis/testing';
import { createClient } from 'redis';
import { stopper } from './lib/children.mjs';
import { cpuMicros, machine, machineBusyMicros, ownCpuMicros } from './lib/proc.mjs';
import { fmt, median } from './lib/stats.mjs';
import { anywsClients, socketioClients, until } from './recovery/clients.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, '..', 'docs', 'bench');
const argv = process.argv.slice(2);
const arg = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const CLIENTS = Number(arg('clients') ?? 10);
const MISSED = Number(arg('missed') ?? 25);
const RATIOS = (arg('ratios') ?? '0,10,100').split(',').map(Number);
const ROUNDS = Number(arg('rounds') ?? 5);
/** The socket.io adapter's stream bound (its default is 10,000 for all rooms together). */
const SIO_MAXLEN = Number(arg('sio-maxlen') ?? 1_000_000);
/**
 * A round starts only if it can end within this much of the run, judged by the longest round so
 * far (whole rounds keep every row's median over the same rounds); past it, no measurement
 * starts at all. Keeps the whole run under 3 minutes.
 */
const RUN_LIMIT_MS = 165_000;
const started = Date.now();

const SYSTEMS = {
  anyws: { script: 'anyws-server.mjs', clients: anywsClients },
  socketio: { script: 'socketio-server.mjs', clients: socketioClients },
};

/** CPU µs the machine spent outside this run's processes so far, and when (ms). */
function busyOfOthers(serverPid, redisPid) {
  const ours = cpuMicros(serverPid) + cpuMicros(redisPid) + ownCpuMicros();
  return { us: machineBusyMicros() - ours, at: performance.now() };
}

/** redis-server's own CPU time in µs (INFO cpu: user + system of its main process). */
async function redisCpu(admin) {
  const info = await admin.info('cpu');
  const field = (name) =>
    Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/** A server process, with its commands as async calls. */
async function startServer(script, redisUrl, sioMaxLen) {
  const child = fork(join(HERE, 'recovery', script), [], {
    env: { ...process.env, REDIS_URL: redisUrl, SIO_MAXLEN: String(sioMaxLen) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stop = stopper(child);
  const waiting = new Map();
  let nextId = 0;
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 20_000);
    child.on('message', (message) => {
      if (message.ready !== undefined) {
        clearTimeout(timer);
        resolve(message.ready);
        return;
      }
      const w = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.ok) w?.resolve(message.value);
      else w?.reject(new Error(message.error));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code})`));
      for (const w of waiting.values()) w.reject(new Error(`${script} exited (${code})`));
    });
  });
  return {
    port,
    pid: child.pid,
    call: (cmd, args = {}) =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        waiting.set(id, { resolve, reject });
        child.send({ id, cmd, ...args });
      }),
    stop,
  };
}

/**
 * One disconnect and recovery of `clients` on `server` (on `redis`, read through `admin`): `missed` messages on each client's
 * channel and `ratio` × as many on others while they are away; measured from the reconnect
 * until each has its `missed`, then checked after one more live message each.
 */
async function cycle({ server, redis, admin, clients }, missed, ratio) {
  const { records } = clients;
  await clients.disconnect();
  for (const deadline = Date.now() + 10_000; ; ) {
    if ((await server.call('connected')) === 0) break;
    if (Date.now() > deadline) throw new Error('the server still has connections');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // What other processes take is read over the publishing and the recovery together: /proc
  // counts in 10 ms ticks, too coarse for a recovery of a few ms alone.
  const busy0 = busyOfOthers(server.pid, redis.pid);
  const p0 = performance.now();
  const published = await server.call('missed', { clients: CLIENTS, missed, ratio });
  const publishMs = performance.now() - p0;
  for (const r of records) {
    r.reset();
    r.want = missed;
  }

  const s0 = await server.call('cpu');
  const r0 = await redisCpu(admin);
  const o0 = ownCpuMicros();
  const t0 = performance.now();
  await clients.reconnect();
  // A client told it did not recover gets nothing more: counted, not waited for.
  const settled = (r) => r.seqs.length >= missed || r.recovered === false;
  await until(() => records.every(settled), 'the missed messages', 60_000);
  const wallMs = performance.now() - t0;
  const gotAtEnd = records.map((r) => r.seqs.length);
  const serverUs = (await server.call('cpu')) - s0;
  const redisUs = (await redisCpu(admin)) - r0;
  const ownUs = ownCpuMicros() - o0;
  const others = busyOfOthers(server.pid, redis.pid);
  const foreignCpu = Math.max(0, (others.us - busy0.us) / (others.at - busy0.at) / 1000);

  // Live again: one more each. Any duplicate of the replay would have come before it.
  await server.call('live', { clients: CLIENTS, seq: missed + 1 });
  await until(() => records.every((r) => r.seqs.includes(missed + 1)), 'the live message');
  const problems = records.flatMap((r) => r.check(1, missed + 1).map((p) => `${r.room}: ${p}`));
  const notRecovered = records.filter((r) => r.recovered !== true).length;
  // Messages the clients got by the end of the wait (all of them unless one did not recover).
  const recovered = gotAtEnd.reduce((sum, n) => sum + Math.min(n, missed), 0);
  const perClientMs = records
    .filter((r) => r.doneAt > 0)
    .map((r) => r.doneAt - t0)
    .sort((a, b) => a - b);
  return {
    published,
    publishMs,
    recoveryMs: wallMs,
    clientMedianMs: perClientMs.length > 0 ? median(perClientMs) : Number.NaN,
    serverUsPerMessage: recovered > 0 ? serverUs / recovered : Number.NaN,
    redisUsPerMessage: recovered > 0 ? redisUs / recovered : Number.NaN,
    generatorCpu: ownUs / 1000 / wallMs,
    foreignCpu,
    correct: problems.length === 0 && notRecovered === 0,
    notRecovered,
    problems: problems.slice(0, 5),
  };
}

/** One measurement of one system at one background ratio. */
async function measure(name, ratio, redis, admin) {
  const system = SYSTEMS[name];
  await admin.flushAll();
  const server = await startServer(system.script, redis.url, SIO_MAXLEN);
  let clients;
  try {
    clients = await system.clients(server.port, CLIENTS);
    const { records } = clients;
    // One live message each: socket.io's client learns its offset from it.
    await server.call('live', { clients: CLIENTS, seq: 0 });
    await until(() => records.every((r) => r.seqs.length === 1), 'the first live message');
    // A warm-up cycle (as many missed messages, no background) first: the measured one then runs
    // on a server whose recovery path V8 has compiled, as a server in production has.
    const run = { server, redis, admin, clients };
    const warm = await cycle(run, MISSED, 0);
    if (!warm.correct) throw new Error(`${name}: the warm-up recovery is wrong: ${warm.problems}`);
    return { system: name, ratio, ...(await cycle(run, MISSED, ratio)) };
  } finally {
    await clients?.close();
    await server.stop();
  }
}

async function main() {
  const redis = await RedisServer.start();
  const admin = createClient({ url: redis.url });
  admin.on('error', () => undefined);
  await admin.connect();
  const runs = [];
  let cut = false;
  let longestRound = 0;
  try {
    const names = Object.keys(SYSTEMS);
    // Not reported: the bench process's own clients are compiled by V8 in their first runs,
    // which showed as a slow first round.
    for (const name of names) await measure(name, 0, redis, admin);
    outer: for (let round = 0; round < ROUNDS; round++) {
      const roundStart = Date.now();
      if (roundStart + longestRound - started > RUN_LIMIT_MS) {
        cut = true;
        break;
      }
      for (const ratio of RATIOS) {
        for (let k = 0; k < names.length; k++) {
          if (Date.now() - started > RUN_LIMIT_MS) {
            cut = true;
            break outer;
          }
          // Alternate which system goes first, round by round.
          const name = names[(round + k) % names.length];
          const r = await measure(name, ratio, redis, admin);
          r.round = round;
          runs.push(r);
          console.log(
            `round ${round + 1} ${name} ×${ratio}: published in ${fmt(r.publishMs)} ms; recovered in ${fmt(r.recoveryMs, 1)} ms (client median ${fmt(r.clientMedianMs, 1)}), ` +
              `${fmt(r.serverUsPerMessage, 1)} µs server + ${fmt(r.redisUsPerMessage, 1)} µs redis per recovered message, ` +
              `generator ${fmt(r.generatorCpu, 2)}, others ${fmt(r.foreignCpu, 2)}, ` +
              `${r.correct ? 'correct' : `WRONG: ${r.notRecovered} not recovered; ${r.problems.join('; ')}`}`,
          );
        }
      }
      longestRound = Math.max(longestRound, Date.now() - roundStart);
    }
  } finally {
    await admin.close().catch(() => undefined);
    await redis.stop();
  }
  await report(runs, cut);
  process.exit(runs.every((r) => r.correct) ? 0 : 1);
}

/** How many rounds have a run (the last may be partial only if a round outran the estimate). */
function roundsDone(runs) {
  return new Set(runs.map((r) => r.round)).size;
}

/** A run's figures blanked (NaN, shown as '—'), keeping what was published and the checks. */
function noFigures(run) {
  const blank = {};
  for (const key of ['recoveryMs', 'clientMedianMs', 'serverUsPerMessage', 'redisUsPerMessage'])
    blank[key] = Number.NaN;
  return { ...run, ...blank };
}

/** Half the range over the median of each row's per-round `key`, in %: the median of the rows. */
function spread(rows, key) {
  return median(
    rows.map((r) => ((Math.max(...r[key]) - Math.min(...r[key])) / 2 / median(r[key])) * 100),
  );
}

function report(runs, cut) {
  const rows = [];
  for (const ratio of RATIOS) {
    for (const name of Object.keys(SYSTEMS)) {
      const all = runs.filter((r) => r.system === name && r.ratio === ratio);
      if (all.length === 0) continue;
      // A run that did not recover says nothing about the cost of recovering: a row without a
      // correct run shows no figures.
      const good = all.filter((r) => r.correct);
      const mine = good.length > 0 ? good : all.map(noFigures);
      rows.push({
        name,
        ratio,
        background: mine[0].published.background,
        recoveryMs: median(mine.map((r) => r.recoveryMs)),
        clientMedianMs: median(mine.map((r) => r.clientMedianMs)),
        serverUs: median(mine.map((r) => r.serverUsPerMessage)),
        redisUs: median(mine.map((r) => r.redisUsPerMessage)),
        perRound: mine.map((r) => r.serverUsPerMessage + r.redisUsPerMessage),
        perRoundMs: mine.map((r) => r.recoveryMs),
        others: median(mine.map((r) => r.foreignCpu)),
        correct: good.length,
        runs: all.length,
      });
    }
  }
  const at = (name, ratio) => rows.find((r) => r.name === name && r.ratio === ratio);
  const growth = (name) => {
    const lo = at(name, RATIOS[0]);
    const hi = at(name, RATIOS[RATIOS.length - 1]);
    return lo && hi ? (hi.serverUs + hi.redisUs) / (lo.serverUs + lo.redisUs) : Number.NaN;
  };
  const env = machine();
  const lines = [
    '# Recovery after a reconnect: anyws channels vs socket.io connection state recovery',
    '',
    '<!-- generated by `pnpm bench:recovery` (bench/recovery.mjs); do not edit -->',
    '',
    `${CLIENTS} clients, each in its own channel (anyws) or room (socket.io), lose their connection;`,
    `meanwhile ${MISSED} messages are published on each one's own channel (${CLIENTS * MISSED} in all) and`,
    `0 to ${RATIOS[RATIOS.length - 1]}× as many on 100 other channels nobody in the run is in (the`,
    '"background": the rest of the app\'s traffic). Then every client reconnects at once. One',
    'redis-server (no persistence) for both, flushed before each measurement; a fresh server',
    'process each time; the clients run in the bench process.',
    '',
    '- **anyws**: @anyws/node, `ChannelServer` with `RedisHistory` (one stream per channel) and',
    '  `RedisTopics`; clients are `ChannelClient`s that re-join with their position.',
    '- **socketio**: socket.io 4.8 with `connectionStateRecovery` and',
    `  \`@socket.io/redis-streams-adapter\` 0.3 (one stream for every room; \`maxLen\` ${fmt(SIO_MAXLEN)};`,
    "  the bench's default raises it from the adapter's 10,000 so that the stream still holds the",
    "  clients' offsets: with 10,000 the 100× background trims them away and nothing is recovered,",
    '  as `--sio-maxlen 10000` shows); clients are socket.io-client reconnecting with their session',
    '  id and offset.',
    '',
    'Recovery time: from the reconnect until every client has all its missed messages. CPU per',
    'recovered message: the server process and redis-server over that time, divided by the',
    `${CLIENTS * MISSED} messages recovered. Correct: after the replay one more live message each, and`,
    `every client has exactly 1…${MISSED + 1} in order, nothing twice, nothing from another channel, and`,
    'was told it recovered.',
    '',
    `Machine: ${env.cpu}, ${env.cores} cores, Node ${env.node}, shared with other work while it ran`,
    '("others": the cores other processes took while a measurement published and recovered). Each',
    'measurement first runs one unmeasured disconnect and recovery of as many messages, without',
    `background, on the same server process. Medians of ${roundsDone(runs)} rounds${cut ? ` (of ${ROUNDS} planned: the next would have passed the run's time limit)` : ''}; rounds`,
    'alternate which system goes first, after one unreported run of each (the bench process warms up).',
    '',
    '| system | background | messages on other channels | recovery ms | client median ms | server µs/msg | Redis µs/msg | total µs/msg, per round | recovery ms, per round | others | correct |',
    '|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.ratio}× | ${fmt(r.background)} | ${fmt(r.recoveryMs, 1)} | ${fmt(r.clientMedianMs, 1)} | ${fmt(r.serverUs, 1)} | ${fmt(r.redisUs, 1)} | ${r.perRound.map((v) => fmt(v, 1)).join(', ')} | ${r.perRoundMs.map((v) => fmt(v, 1)).join(', ')} | ${fmt(r.others, 2)} | ${r.correct}/${r.runs} |`,
    ),
    '',
    `- Server + Redis CPU per recovered message, ${RATIOS[RATIOS.length - 1]}× background against none: anyws **${fmt(growth('anyws'), 2)}×**${growth('anyws') < 1.5 ? " (flat within the noise: the cost follows the client's own channels)" : ''}, socket.io **${fmt(growth('socketio'), 2)}×**${growth('socketio') > 2 ? ' (it follows all traffic)' : ''}.`,
    ...RATIOS.map((ratio) => {
      const a = at('anyws', ratio);
      const s = at('socketio', ratio);
      if (!a || !s) return '';
      const failed = [a, s].filter((r) => r.correct === 0).map((r) => r.name);
      if (failed.length > 0)
        return `- ${ratio}× background: no correct recovery by ${failed.join(' and ')} (see the runs).`;
      return `- ${ratio}× background: socket.io takes ${fmt(s.recoveryMs / a.recoveryMs, 1)}× the recovery time of anyws and ${fmt((s.serverUs + s.redisUs) / (a.serverUs + a.redisUs), 1)}× its CPU per recovered message.`;
    }).filter(Boolean),
    '',
    'Why: a reconnecting anyws client sends its (epoch, offset) per channel and the server reads',
    "each of its channels' streams from there (`XREVRANGE … COUNT missed`), so the work is what that",
    "client missed. socket.io's adapter reads the one stream from the client's offset to its end",
    '(`XRANGE` with no `COUNT`) and keeps the packets for the rooms of that session: every reconnecting',
    'client reads, transfers and decodes everything every room got since it left. In all, each',
    `recovered message costs it ${CLIENTS} × (1 + background) stream entries read and decoded here`,
    `(${fmt(CLIENTS * (1 + RATIOS[RATIOS.length - 1]))} at ${RATIOS[RATIOS.length - 1]}×): the cost grows with the traffic of the whole app and with how many`,
    'clients reconnect together.',
    '',
    'Both figures include the reconnect itself (a WebSocket handshake, a join or a session lookup',
    'per client), which the 0× rows show alone: there socket.io also pays its session (GETDEL) and',
    'engine.io handshake. A server process that published more before the reconnect (the 10× and',
    "100× rows) has more of its code optimized by V8 (node-redis's reply parser among it), which",
    'lowers those rows a little for both systems. The publishing before the reconnect is not',
    'measured. The clients run in the bench process (socket.io-client is heavier than',
    'ChannelClient), so the generator column of the runs is for reference only.',
    '',
    `Noise: the machine has ${env.cores} cores shared with other work, which took ${fmt(median(runs.map((r) => r.foreignCpu)), 2)} cores (median of`,
    'the runs) while this ran; a round where "others" is high is slower for both. Spread within a',
    `row (half the range over the median, median of the rows): ±${fmt(spread(rows, 'perRoundMs'))} % for the time,`,
    `±${fmt(spread(rows, 'perRound'))} % for the CPU per message; compare the ratios between the systems against that.`,
    '',
    'Runs:',
    '',
    ...runs.map(
      (r) =>
        `- round ${r.round + 1}, ${r.system}, ${r.ratio}×: ${fmt(r.recoveryMs, 1)} ms (client median ${fmt(r.clientMedianMs, 1)}), ${fmt(r.serverUsPerMessage, 1)} µs server + ${fmt(r.redisUsPerMessage, 1)} µs Redis per message, generator ${fmt(r.generatorCpu, 2)} cores, others ${fmt(r.foreignCpu, 2)}, ${r.correct ? 'correct' : `WRONG (${r.notRecovered} not recovered; ${r.problems.join('; ')})`}`,
    ),
    '',
  ];
  const text = lines.join('\n');
  console.log(`\n${text}`);
  if (!argv.includes('--no-write')) {
    return mkdir(OUT, { recursive: true }).then(() =>
      Promise.all([
        writeFile(join(OUT, 'recovery.md'), text),
        writeFile(
          join(OUT, 'recovery.json'),
          `${JSON.stringify({ machine: env, params: { CLIENTS, MISSED, RATIOS, ROUNDS }, runs }, null, 2)}\n`,
        ),
      ]),
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

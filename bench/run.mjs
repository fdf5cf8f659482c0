// `pnpm bench`: every server in its own process, one load generator process per measurement,
// rounds interleaved between servers, medians reported. Writes docs/bench/results.md,
// chart.svg and results.json. Flags: --quick, --rounds N, --servers a,b, --scenarios x,y,
// --pin (server on CPU 0, generator on CPU 1), --no-write, --render (the report again from
// docs/bench/results.json, nothing measured).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baselineServer } from './lib/baseline.mjs';
import { machine, machineBusyMicros } from './lib/proc.mjs';
import {
  README_END,
  README_START,
  renderMarkdown,
  renderReadmeBlock,
  renderSvg,
} from './lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const outDir = join(root, 'docs', 'bench');

// ---- options -----------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = {
    quick: false,
    rounds: null,
    servers: null,
    scenarios: null,
    pin: false,
    write: true,
    render: false,
    slackMs: null,
    budgetMs: null,
    against: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--') continue;
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--rounds') opts.rounds = Number(value());
    else if (arg === '--servers') opts.servers = value().split(',');
    else if (arg === '--scenarios') opts.scenarios = value().split(',');
    else if (arg === '--pin') opts.pin = true;
    else if (arg === '--no-write') opts.write = false;
    else if (arg === '--render') opts.render = true;
    else if (arg === '--slack' || arg === '--quiet-wait') opts.slackMs = Number(value()) * 1000;
    else if (arg === '--budget') opts.budgetMs = Number(value()) * 1000;
    else if (arg === '--against') opts.against = value();
    else if (arg === '--help') {
      process.stdout.write(readFileSync(join(here, 'README.md'), 'utf8'));
      process.exit(0);
    } else throw new Error(`unknown option ${arg}`);
  }
  return opts;
}

// ---- servers -----------------------------------------------------------------------------

const anywsBuilt = existsSync(join(root, 'packages', 'node', 'dist', 'index.js'));

/** The Node servers. `kind` picks the driver: our client (ws), raw TCP, or socket.io-client. */
const NODE_SERVERS = [
  { id: 'ws', label: 'ws (raw)', file: 'ws.mjs', kind: 'ws' },
  // The size sweep's control: raw ws again, in a process of its own, taking turns like the
  // others. Its ratio to ws is what the sweep's method gives for identical code: how far from
  // 1× a ratio can be before it says anything about the server.
  {
    id: 'ws-twin',
    label: 'ws (twin: the control)',
    file: 'ws.mjs',
    kind: 'ws',
    control: true,
    sweepOnly: true,
  },
  {
    id: 'anyws',
    label: '@anyws/node',
    file: 'anyws-node.mjs',
    kind: 'ws',
    ours: true,
    missing: anywsBuilt ? null : 'packages/node/dist is not built',
  },
  {
    id: 'anyws-nocoalesce',
    label: '@anyws/node, no coalescing',
    file: 'anyws-node.mjs',
    env: { COALESCE: '0' },
    kind: 'ws',
    ours: true,
    // Coalescing only changes how writes leave: handshakes, memory and deflate stay the same.
    only: ['echo64', 'echo16k', 'latency', 'bcast'],
    missing: anywsBuilt ? null : 'packages/node/dist is not built',
  },
  { id: 'crossws', label: 'crossws', file: 'crossws.mjs', kind: 'ws', peer: true },
  { id: 'hono', label: '@hono/node-ws', file: 'hono-node-ws.mjs', kind: 'ws', peer: true },
  { id: 'socketio', label: 'socket.io', file: 'socketio.mjs', kind: 'sio', peer: true },
  { id: 'tcp', label: 'TCP echo (ceiling)', file: 'tcp.mjs', kind: 'tcp', ceiling: true },
];

function denoBinary() {
  // The npm package's binary itself, not the node shim in .bin, so the pid we measure is Deno's.
  const direct = join(here, 'node_modules', 'deno', 'deno');
  if (existsSync(direct)) return direct;
  return join(here, 'node_modules', '.bin', 'deno');
}

/** The Deno servers, written by the Deno side of the project, when they exist. */
/**
 * The least first warm-up of a Deno server in the echo scenarios, in ms. Raw Deno runs a few
 * lines of its own per message, @anyws/deno runs core's pull API: on a fresh process V8 is
 * still compiling that for a second or more. Measured on fresh processes, 16 KiB echo, six
 * windows of 0.3 s: @anyws/deno's CPU per message over raw Deno's, median of a trial, was
 * 1.09–1.26× in 7 trials after a 0.3 s warm-up (its first window 1.09–1.46×), 1.04× and
 * 1.07× after 1.5 s, 1.05× and 0.99× after 3 s. Node servers keep the scenario's own warm-up.
 */
const DENO_ECHO_FIRST_WARMUP_MS = 1500;

function denoServers() {
  const dir = join(here, 'servers');
  return readdirSync(dir)
    .filter((name) => /^deno-.*\.ts$/.test(name))
    .sort((a, b) => Number(/raw/.test(b)) - Number(/raw/.test(a)) || a.localeCompare(b))
    .map((name) => {
      const source = readFileSync(join(dir, name), 'utf8');
      const raw = /raw/.test(name);
      return {
        id: name.replace(/\.ts$/, ''),
        label: raw ? 'Deno (raw upgradeWebSocket)' : '@anyws/deno',
        file: name,
        kind: 'ws',
        deno: true,
        ours: !raw,
        // Broadcast only where the server speaks the /sub + /pub protocol of servers/_common.mjs.
        broadcast: source.includes("'/sub'") && source.includes("'/pub'"),
        echoFirstWarmupMs: DENO_ECHO_FIRST_WARMUP_MS,
      };
    });
}

// ---- scenarios ---------------------------------------------------------------------------

/**
 * The scenarios, in the order the report lists them; `step` is the order they run in within a
 * round: memory first, on servers fresh from their start, broadcast last, as it leaves the
 * largest heaps behind. Rate scenarios run in turns (see loadgen.mjs): `firstWarmupMs` once per
 * server, then `turns` passes of a `warmupMs` warm-up (at least one full load of messages in
 * flight back) and a `durationMs` window on each server.
 */
function scenarios(quick) {
  const turns = quick
    ? { firstWarmupMs: 200, warmupMs: 100, durationMs: 250, turns: 1 }
    : { firstWarmupMs: 300, warmupMs: 100, durationMs: 300, turns: 3 };
  // 2,000 subscribers, then 8,000 more on the same server: one run gives both figures. With
  // deflate, ws, crossws, @hono/node-ws and socket.io compress for each socket, and a
  // broadcast to 10,000 takes them up to a second: fewer of them.
  const bcast = (compress) => ({
    type: 'broadcast',
    steps: [2000, 10_000],
    compress,
    warmup: 1,
    rounds: compress ? (quick ? [4, 2] : [6, 3]) : quick ? [5, 3] : [10, 5],
    timeoutMs: 20_000,
  });
  // Opening 10,000 connections per server (socket.io with deflate: tens of seconds) is most of
  // a broadcast scenario's time: broadcasts run in the first two rounds of a full run only.
  const bcastRounds = quick ? undefined : 2;
  return [
    {
      id: 'echo64',
      title: 'echo 64 B',
      step: 2,
      params: { type: 'echo', conns: 64, inflight: 32, size: 64, binary: false, ...turns },
    },
    {
      id: 'echo16k',
      title: 'echo 16 KiB binary',
      step: 3,
      params: { type: 'echo', conns: 64, inflight: 4, size: 16_384, binary: true, ...turns },
    },
    {
      id: 'latency',
      title: 'round trip',
      step: 4,
      // Every server at once, taking turns in blocks of round trips: the machine's state
      // drifts between runs more than the servers differ. Server and generator share one
      // core: across cores, this VM's wake-up latency varies from 25 to 85 µs between runs.
      sameCore: true,
      params: {
        type: 'latency',
        size: 64,
        warmup: quick ? 500 : 1000,
        count: quick ? 4000 : 20_000,
        block: 500,
        maxMs: quick ? 2000 : 4000,
      },
    },
    {
      id: 'bcast',
      step: 6,
      maxRounds: bcastRounds,
      produces: ['bcast2k', 'bcast10k'],
      titles: ['broadcast to 2,000', 'broadcast to 10,000'],
      params: bcast(false),
    },
    {
      id: 'bcastz',
      step: 7,
      maxRounds: bcastRounds,
      produces: ['bcastz2k', 'bcastz10k'],
      titles: ['deflate broadcast to 2,000', 'deflate broadcast to 10,000'],
      params: bcast(true),
    },
    {
      id: 'rss',
      title: 'RSS per idle connection',
      step: 0,
      params: { type: 'rss', conns: 5000, warmConns: 200 },
    },
    {
      id: 'connrate',
      title: 'connections opened per second',
      step: 1,
      params: {
        type: 'connrate',
        concurrency: 32,
        ...turns,
        turns: quick ? 1 : 2,
        warmupMs: 50,
        firstWarmupMs: 200,
      },
    },
    ...sweep(quick),
  ];
}

/** Message sizes and messages in flight of the size sweep (issue 14): every pair is a cell. */
const SWEEP_SIZES = [64, 1024, 16_384, 65_536, 1_048_576];
const SWEEP_INFLIGHT = [1, 4, 32];
/**
 * Bytes in flight the sweep's connections keep at most (at least one connection): enough to
 * keep both servers busy, and each turn fills and drains it, so it sets how long a large cell
 * takes (16 MiB: 16 connections at 1 MiB × 1, 4 at × 4, 1 at × 32).
 */
const SWEEP_BYTES_IN_FLIGHT = 16 << 20;
/** The servers the size sweep compares: @anyws/node with raw ws, and ws again as the control. */
const SWEEP_SERVERS = ['ws', 'anyws', 'ws-twin'];

/**
 * The size sweep, one scenario per (size, in flight): binary echo as in echo16k, with as many
 * connections (up to 64) as keep SWEEP_BYTES_IN_FLIGHT in flight.
 * Short windows: there are fifteen cells, and server CPU per message, read from the scheduler's
 * nanosecond counters, needs no long window; the warm-up lasts at least one full load of
 * messages in flight, so the 1 MiB cells do not measure the pipeline filling.
 */
function sweep(quick) {
  // No first warm-up pass: the servers are warm from the echo scenarios and the cells before.
  const time = quick
    ? { firstWarmupMs: 0, warmupMs: 50, durationMs: 150, turns: 1 }
    : { firstWarmupMs: 0, warmupMs: 50, durationMs: 250, turns: 2 };
  return SWEEP_SIZES.flatMap((size) =>
    SWEEP_INFLIGHT.map((inflight) => ({
      id: `sweep-${size}-${inflight}`,
      title: `echo ${sizeLabel(size)}, ${inflight} in flight`,
      group: 'sweep',
      step: 5,
      servers: SWEEP_SERVERS,
      params: {
        type: 'echo',
        conns: Math.max(1, Math.min(64, Math.floor(SWEEP_BYTES_IN_FLIGHT / (size * inflight)))),
        inflight,
        size,
        binary: true,
        ...time,
      },
    })),
  );
}

function sizeLabel(size) {
  if (size >= 1 << 20) return `${size / (1 << 20)} MiB`;
  if (size >= 1024) return `${size / 1024} KiB`;
  return `${size} B`;
}

/** The ids of the results a scenario gives. */
function producedIds(scenario) {
  return scenario.produces ?? [scenario.id];
}

/** Why `server` does not run `scenario`, or null when it does. */
function skipReason(server, scenario) {
  if (scenario.servers && !scenario.servers.includes(server.id))
    return 'the size sweep compares @anyws/node with raw ws only';
  if (server.sweepOnly && scenario.group !== 'sweep') return 'the control of the size sweep only';
  if (server.only && !server.only.includes(scenario.id)) return 'not a question for this variant';
  const { type, compress } = scenario.params;
  if (type === 'broadcast') {
    if (server.deno && !server.broadcast) return 'no /sub + /pub broadcast in this server';
    if (compress && server.deno) return 'Deno.upgradeWebSocket has no permessage-deflate';
    if (compress && server.kind === 'tcp') return 'no compression in plain TCP';
  }
  return null;
}

// ---- processes ---------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

function withCpu(cpu, command, args) {
  return cpu === undefined ? [command, args] : ['taskset', ['-c', String(cpu), command, ...args]];
}

/** All CPUs of the machine, as taskset writes them. */
const ALL_CPUS = `0-${availableParallelism() - 1}`;

/** Moves every thread of a running process to `cpus` (a taskset list). */
function pinRunning(pid, cpus) {
  spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/**
 * Starts one server and resolves with its handle once it prints `ready <port>`. Servers live
 * through a whole round: every scenario of the round measures the same process.
 */
async function startServer(server, { compress }, cpu) {
  const env = {
    ...process.env,
    ...server.env,
    PORT: String(await freePort()),
    COMPRESS: compress ? '1' : '0',
  };
  const script = isAbsolute(server.file) ? server.file : join(here, 'servers', server.file);
  const [command, args] = server.deno
    ? withCpu(cpu, denoBinary(), ['run', '-A', script])
    : withCpu(cpu, process.execPath, ['--expose-gc', script]);
  const child = spawn(command, args, { cwd: here, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${server.id}: no ready line in 30 s`)),
      30_000,
    );
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /ready (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${server.id} exited (${code}) before ready: ${stderr.trim()}`));
    });
  }).catch(async (error) => {
    child.kill('SIGKILL');
    throw error;
  });
  // With pinning, taskset execs the server: the pid is the server's.
  return { child, port, pid: child.pid, stderr: () => stderr };
}

function stopServer(handle) {
  return new Promise((resolve) => {
    if (!handle?.child || handle.child.exitCode !== null || handle.child.signalCode !== null)
      return resolve();
    handle.child.once('exit', () => resolve());
    handle.child.kill('SIGKILL');
  });
}

/** Starts `servers` side by side; a server that fails to start gets `{ error }`. */
async function startAll(servers, options, cpu) {
  const handles = new Map();
  await Promise.all(
    servers.map(async (server) => {
      try {
        handles.set(server.id, await startServer(server, options, cpu));
      } catch (error) {
        handles.set(server.id, { error: String(error?.message ?? error) });
      }
    }),
  );
  return handles;
}

function runLoadgen(cfg, cpu, timeoutMs) {
  return new Promise((resolve) => {
    const [command, args] = withCpu(cpu, process.execPath, [
      join(here, 'loadgen.mjs'),
      JSON.stringify(cfg),
    ]);
    const child = spawn(command, args, { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err = (err + chunk).slice(-2000);
      // Its progress lines (what a phase spends its time on), passed on as they come.
      process.stderr.write(chunk);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop();
      try {
        resolve(JSON.parse(line));
      } catch {
        resolve({
          error: signal
            ? `load generator killed (${signal}) after ${timeoutMs} ms`
            : `load generator exit ${code}: ${err.trim().slice(-300)}`,
        });
      }
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU in use on the machine, in cores, over `ms`. Our processes are idle while this runs. */
async function machineLoad(ms) {
  const before = machineBusyMicros();
  await sleep(ms);
  return (machineBusyMicros() - before) / (ms * 1000);
}

/** Machine load (in cores) under which a scenario starts at once. */
const QUIET_LOAD = 0.1;

/**
 * The run's slack: time it may spend, in all, waiting for other processes to leave the CPUs
 * and measuring disturbed windows again. Bounded, so that a run on a busy machine still ends
 * in time; what stays disturbed is marked in the report.
 */
const slack = { leftMs: 0 };

/** Waits, while the slack lasts, until other processes leave the machine alone. */
async function waitQuiet() {
  let said = false;
  for (;;) {
    const load = await machineLoad(150);
    if (load < QUIET_LOAD || slack.leftMs <= 0) return;
    if (!said) {
      process.stderr.write(
        `  waiting for other processes to leave the CPUs (${Math.min(load, availableParallelism()).toFixed(2)} cores busy)\n`,
      );
      said = true;
    }
    await sleep(350);
    slack.leftMs -= 500;
  }
}

// ---- the run -----------------------------------------------------------------------------

function brief(result) {
  if (result.error) return `error: ${result.error}`;
  const n = (v, d = 0) => (v === null || v === undefined ? '-' : v.toFixed(d));
  if ('p99' in result) return `p50 ${n(result.p50)} µs, p99 ${n(result.p99)} µs`;
  if ('deliveriesPerSec' in result) {
    return `${n(result.ms, 1)} ms, ${n(result.deliveriesPerSec)} deliveries/s, ${n(result.serverUsPerDelivery, 2)} µs CPU each`;
  }
  if ('perConnKiB' in result) return `${n(result.perConnKiB, 2)} KiB per connection`;
  if ('serverUsPerMsg' in result) {
    return `${n(result.rate)} msg/s, ${n(result.serverUsPerMsg, 2)} µs server CPU/msg, generator ${n(result.loadgenCpu * 100)}% CPU`;
  }
  return `${n(result.rate)} /s, ${n(result.serverUsPerConn, 1)} µs server CPU each`;
}

function versionOf(pkg) {
  try {
    return JSON.parse(readFileSync(join(here, 'node_modules', pkg, 'package.json'), 'utf8'))
      .version;
  } catch {
    return 'not installed';
  }
}

function denoVersion() {
  const result = spawnSync(denoBinary(), ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split('\n')[0].replace(/^deno /, '') : 'unavailable';
}

/** Writes results.md, chart.svg, results.json and the README's generated performance block. */
function writeReport(report, markdown, json = true) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.md'), markdown);
  writeFileSync(join(outDir, 'chart.svg'), renderSvg(report));
  if (json) writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  const readme = join(root, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const block = replaceBlock(text, renderReadmeBlock(report));
  if (block === null) {
    process.stderr.write(`README.md has no ${README_START} … ${README_END} block: not updated\n`);
  } else writeFileSync(readme, block);
  process.stderr.write(
    `wrote ${join('docs', 'bench')}/results.md, chart.svg${json ? ', results.json' : ''} and the README's performance block\n`,
  );
}

/** `text` with the generated block between the markers replaced, or null without markers. */
function replaceBlock(text, body) {
  const a = text.indexOf(README_START);
  const b = text.indexOf(README_END);
  if (a < 0 || b < a) return null;
  return `${text.slice(0, a + README_START.length)}\n${body}\n${text.slice(b)}`;
}

/** `--render`: the report of the last run written again from its results.json, measuring nothing. */
function render() {
  const report = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8'));
  report.browser ??= browserSizes();
  writeReport(report, renderMarkdown(report), false);
}

/**
 * The browser bundles of issue 14 (bytes, not timings: the same on any machine), from the
 * browser package's own size script; `{ error }` when it cannot run (core not built, …).
 */
function browserSizes() {
  const script = join(root, 'packages', 'browser', 'scripts', 'size.mjs');
  const result = spawnSync(process.execPath, [script, '--json'], {
    cwd: dirname(dirname(script)),
    encoding: 'utf8',
    timeout: 60_000,
  });
  try {
    if (result.status !== 0) throw new Error(result.stderr.trim().split('\n').pop() || 'failed');
    return JSON.parse(result.stdout);
  } catch (error) {
    return { error: `size script: ${String(error?.message ?? error)}` };
  }
}

/**
 * One scenario of one round: one load generator for every eligible server at once (running
 * processes, in `handles`). Returns { perServer: { id: { resultId: runs } } }.
 */
async function measureScenario(scenario, servers, handles, opts) {
  const ids = producedIds(scenario);
  const perServer = {};
  const targets = [];
  for (const server of servers) {
    const handle = handles.get(server.id);
    let error = handle?.error;
    if (!error && handle.child.exitCode !== null) {
      error = `server exited earlier in the round: ${handle.stderr().trim().slice(-300)}`;
    }
    if (error) {
      perServer[server.id] = Object.fromEntries(ids.map((id) => [id, [{ error }]]));
      continue;
    }
    targets.push({
      id: server.id,
      kind: server.kind,
      port: handle.port,
      pid: handle.pid,
      gc: !server.deno,
      minFirstWarmupMs: scenario.params.type === 'echo' ? (server.echoFirstWarmupMs ?? 0) : 0,
    });
  }
  if (targets.length === 0) return { perServer };
  const sameCore = scenario.sameCore && hasTaskset;
  if (sameCore) for (const t of targets) pinRunning(t.pid, '1');
  const waited = Date.now();
  // The size sweep's cells follow each other: the machine was checked before the first.
  if (!opts.sameGroup) await waitQuiet();
  const quietSeconds = (Date.now() - waited) / 1000;
  const result = await runLoadgen(
    { targets, ids, params: scenario.params, slackMs: Math.max(0, slack.leftMs) },
    sameCore ? 1 : opts.pin ? 1 : undefined,
    600_000,
  );
  if (sameCore) for (const t of targets) pinRunning(t.pid, opts.pin ? '0' : ALL_CPUS);
  slack.leftMs -= result.slackUsedMs ?? 0;
  for (const target of targets) {
    const handle = handles.get(target.id);
    const exited =
      handle.child.exitCode !== null
        ? `server exited during the run: ${handle.stderr().trim().slice(-300)}`
        : null;
    const got = result.perServer?.[target.id] ?? {};
    perServer[target.id] = Object.fromEntries(
      ids.map((id) => {
        const runs = got[id] ?? [{ error: result.error ?? 'no result' }];
        return [id, exited ? [...runs, { error: exited }] : runs];
      }),
    );
  }
  return { perServer, quietSeconds };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.render) return render();
  const rounds = opts.rounds ?? (opts.quick ? 1 : 3);
  slack.leftMs = opts.slackMs ?? (opts.quick ? 15_000 : 30_000);
  let servers = [...NODE_SERVERS, ...denoServers()];
  if (opts.servers) servers = servers.filter((s) => opts.servers.includes(s.id));
  if (opts.against) servers.push(baselineServer(root, opts.against));
  let list = scenarios(opts.quick);
  if (opts.scenarios) {
    list = list.filter((s) =>
      [s.id, s.group, ...producedIds(s)].some((id) => opts.scenarios.includes(id)),
    );
  }
  if (opts.pin && !hasTaskset) {
    throw new Error('--pin needs taskset');
  }

  const skipped = {};
  const active = [];
  for (const server of servers) {
    if (server.missing) {
      skipped[server.id] = server.missing;
      process.stderr.write(`skipping ${server.label}: ${server.missing}\n`);
    } else active.push(server);
  }

  const started = Date.now();
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(0);
  /** Seconds spent per phase (scenario, or the sweep as one), over all rounds. */
  const phases = {};
  const spent = (phase, seconds) => {
    phases[phase] = (phases[phase] ?? 0) + seconds;
  };
  const results = {};
  for (const server of active) results[server.id] = {};
  const byStep = [...list].sort((a, b) => a.step - b.step);
  const budgetMs = opts.budgetMs ?? (opts.quick ? 175_000 : 590_000);
  /** Seconds each scenario (and the servers' start) took in the last round it ran in. */
  const lastSeconds = {};
  let roundsRun = 0;
  for (let round = 0; round < rounds; round++) {
    // A round that would end past the budget is not started: the report says how many ran.
    // Its time: what its scenarios took in the round before.
    const nextRound = byStep
      .filter((s) => round < (s.maxRounds ?? rounds))
      .reduce((sum, s) => sum + (lastSeconds[s.id] ?? 0), lastSeconds.start ?? 0);
    if (roundsRun > 0 && Date.now() - started + nextRound * 1000 > budgetMs) {
      process.stderr.write(
        `[${elapsed()}s] round ${round + 1} would end past the budget of ${budgetMs / 1000} s: not run\n`,
      );
      break;
    }
    roundsRun++;
    // Each round starts the rotation at another server, so no server always goes first.
    const order = active.map((_, i) => active[(i + round) % active.length]);
    let t0 = Date.now();
    const uses = (compress) => byStep.some((s) => !!s.params.compress === compress);
    const handles = uses(false)
      ? await startAll(order, { compress: false }, opts.pin ? 0 : undefined)
      : new Map();
    spent('server start', (Date.now() - t0) / 1000);
    lastSeconds.start = (Date.now() - t0) / 1000;
    let compressed = null;
    let lastGroup;
    try {
      for (const scenario of byStep) {
        if (round >= (scenario.maxRounds ?? rounds)) continue;
        const eligible = [];
        for (const server of order) {
          const reason = skipReason(server, scenario);
          if (reason) {
            for (const id of producedIds(scenario)) results[server.id][id] = { skipped: reason };
          } else eligible.push(server);
        }
        if (eligible.length === 0) continue;
        let pool = handles;
        if (scenario.params.compress) {
          // permessage-deflate is a server option: its own processes, started for it alone.
          t0 = Date.now();
          compressed = await startAll(eligible, { compress: true }, opts.pin ? 0 : undefined);
          spent('server start', (Date.now() - t0) / 1000);
          pool = compressed;
        }
        t0 = Date.now();
        const { perServer, quietSeconds = 0 } = await measureScenario(scenario, eligible, pool, {
          ...opts,
          sameGroup: !!scenario.group && scenario.group === lastGroup,
        });
        lastGroup = scenario.group;
        const seconds = (Date.now() - t0) / 1000 - quietSeconds;
        spent(scenario.group ?? scenario.id, seconds);
        lastSeconds[scenario.id] = seconds;
        if (quietSeconds >= 0.5) spent('waiting for quiet', quietSeconds);
        for (const server of eligible) {
          for (const [id, runs] of Object.entries(perServer[server.id] ?? {})) {
            const entry = results[server.id][id]?.runs ? results[server.id][id] : { runs: [] };
            for (const [turn, run] of runs.entries()) entry.runs.push({ ...run, round, turn });
            results[server.id][id] = entry;
            process.stderr.write(
              `[${elapsed()}s] round ${round + 1}/${rounds} ${id.padEnd(16)} ${server.id.padEnd(16)} ${runs.map(brief).join(' | ')}\n`,
            );
          }
        }
        process.stderr.write(`[${elapsed()}s]   ${scenario.id}: ${seconds.toFixed(1)} s\n`);
        if (compressed) {
          await Promise.all([...compressed.values()].map(stopServer));
          compressed = null;
        }
      }
    } finally {
      await Promise.all([...handles.values(), ...(compressed?.values() ?? [])].map(stopServer));
    }
  }

  const report = {
    date: new Date().toISOString(),
    durationSec: Math.round((Date.now() - started) / 1000),
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v)])),
    mode: opts.quick ? 'quick' : 'full',
    rounds: roundsRun,
    ...(roundsRun < rounds ? { roundsPlanned: rounds } : {}),
    pinned: opts.pin,
    machine: { ...machine(), deno: denoVersion() },
    versions: {
      ws: versionOf('ws'),
      crossws: versionOf('crossws'),
      '@hono/node-ws': versionOf('@hono/node-ws'),
      '@hono/node-server': versionOf('@hono/node-server'),
      'socket.io': versionOf('socket.io'),
    },
    servers: active.map(({ id, label, kind, ours, peer, ceiling, deno, control }) => ({
      id,
      label,
      kind,
      ours: !!ours,
      peer: !!peer,
      ceiling: !!ceiling,
      deno: !!deno,
      control: !!control,
    })),
    skippedServers: skipped,
    scenarios: list.flatMap((s) =>
      s.produces
        ? s.produces.map((id, i) => ({
            id,
            title: s.titles[i],
            params: { ...s.params, subscribers: s.params.steps[i] },
            sameCore: false,
            ...(s.maxRounds < rounds ? { rounds: s.maxRounds } : {}),
          }))
        : [
            {
              id: s.id,
              title: s.title,
              params: s.params,
              sameCore: !!s.sameCore && hasTaskset,
              ...(s.group ? { group: s.group } : {}),
            },
          ],
    ),
    results,
    browser: browserSizes(),
  };
  const markdown = renderMarkdown(report);
  process.stdout.write(`\n${markdown}\n`);
  if (opts.write) writeReport(report, markdown);
  const phaseText = Object.entries(report.phases)
    .map(([k, v]) => `${k} ${v} s`)
    .join(', ');
  process.stderr.write(
    `\nbench ${report.mode} run: ${report.durationSec} s in all (${(report.durationSec / 60).toFixed(1)} min); ${phaseText}\n`,
  );
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});

// `pnpm bench`: every server in its own process, one load generator process per measurement,
// rounds interleaved between servers, medians reported. Writes docs/bench/results.md,
// chart.svg and results.json. Flags: --quick, --rounds N, --servers a,b, --scenarios x,y,
// --pin (server on CPU 0, generator on CPU 1), --no-write, --render (the report again from
// docs/bench/results.json, nothing measured).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, machineBusyMicros } from './lib/proc.mjs';
import { renderMarkdown, renderSvg } from './lib/report.mjs';

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
    quietWaitMs: 120_000,
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
    else if (arg === '--quiet-wait') opts.quietWaitMs = Number(value()) * 1000;
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
      };
    });
}

// ---- scenarios ---------------------------------------------------------------------------

function scenarios(quick) {
  const echoTime = quick ? { warmupMs: 300, durationMs: 800 } : { warmupMs: 500, durationMs: 1500 };
  // 2,000 subscribers, then 8,000 more on the same server: one run gives both figures.
  const bcast = (compress) => ({
    type: 'broadcast',
    steps: [2000, 10_000],
    compress,
    warmup: 1,
    rounds: quick ? [4, 2] : [16, 8],
    timeoutMs: 20_000,
  });
  return [
    {
      id: 'echo64',
      title: 'echo 64 B',
      // The figure three targets hang on, and one that moves by ±15% from run to run here:
      // measured twice per round.
      repeat: quick ? 1 : 2,
      params: { type: 'echo', conns: 64, inflight: 32, size: 64, binary: false, ...echoTime },
    },
    {
      id: 'echo16k',
      title: 'echo 16 KiB binary',
      params: { type: 'echo', conns: 64, inflight: 4, size: 16_384, binary: true, ...echoTime },
    },
    {
      id: 'latency',
      title: 'round trip',
      // Every server at once, taking turns in blocks of round trips: the machine's state
      // drifts between runs more than the servers differ. Server and generator share one
      // core: across cores, this VM's wake-up latency varies from 25 to 85 µs between runs.
      together: true,
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
      produces: ['bcast2k', 'bcast10k'],
      titles: ['broadcast to 2,000', 'broadcast to 10,000'],
      params: bcast(false),
    },
    {
      id: 'bcastz',
      produces: ['bcastz2k', 'bcastz10k'],
      titles: ['deflate broadcast to 2,000', 'deflate broadcast to 10,000'],
      params: bcast(true),
    },
    {
      id: 'rss',
      title: 'RSS per idle connection',
      params: { type: 'rss', conns: 5000, warmConns: 200, settleMs: 300 },
    },
    {
      id: 'connrate',
      title: 'connections opened per second',
      params: {
        type: 'connrate',
        concurrency: 32,
        max: 50_000,
        warmupMs: 300,
        durationMs: quick ? 800 : 1500,
      },
    },
    ...sweep(quick),
  ];
}

/** Message sizes and messages in flight of the size sweep (issue 14): every pair is a cell. */
const SWEEP_SIZES = [64, 1024, 16_384, 65_536, 1_048_576];
const SWEEP_INFLIGHT = [1, 4, 32];
/** The servers the size sweep compares: @anyws/node with raw ws, nothing else. */
const SWEEP_SERVERS = ['ws', 'anyws'];

/**
 * The size sweep, one scenario per (size, in flight): binary echo as in echo16k, with as many
 * connections (up to 64) as keep 64 MiB in flight, so the 1 MiB cells do not measure swapping.
 * Short windows: there are fifteen cells, and server CPU per message needs no long window.
 */
function sweep(quick) {
  const time = quick ? { warmupMs: 200, durationMs: 400 } : { warmupMs: 300, durationMs: 700 };
  return SWEEP_SIZES.flatMap((size) =>
    SWEEP_INFLIGHT.map((inflight) => ({
      id: `sweep-${size}-${inflight}`,
      title: `echo ${sizeLabel(size)}, ${inflight} in flight`,
      group: 'sweep',
      servers: SWEEP_SERVERS,
      params: {
        type: 'echo',
        conns: Math.max(1, Math.min(64, Math.floor((64 << 20) / (size * inflight)))),
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

/** The CPUs of the server and of the generator for a scenario, or null when not pinned. */
function cpusFor(scenario, pin) {
  if (scenario.sameCore && hasTaskset) return [1, 1];
  return pin ? [0, 1] : null;
}

async function startServer(server, scenario, cpus) {
  const env = {
    ...process.env,
    ...server.env,
    PORT: String(await freePort()),
    COMPRESS: scenario.params.compress ? '1' : '0',
  };
  const script = join(here, 'servers', server.file);
  const [command, args] = server.deno
    ? withCpu(cpus?.[0], denoBinary(), ['run', '-A', script])
    : withCpu(cpus?.[0], process.execPath, ['--expose-gc', script]);
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
  });
  // With pinning, taskset execs the server: the pid is the server's.
  return { child, port, pid: child.pid, stderr: () => stderr };
}

function stopServer(handle) {
  return new Promise((resolve) => {
    if (handle.child.exitCode !== null || handle.child.signalCode !== null) return resolve();
    handle.child.once('exit', () => resolve());
    handle.child.kill('SIGKILL');
  });
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

/** Waits (up to `maxMs`) until other processes leave the machine alone; returns their load. */
async function waitQuiet(maxMs) {
  const start = Date.now();
  let said = false;
  for (;;) {
    const load = await machineLoad(250);
    if (load < QUIET_LOAD || Date.now() - start > maxMs) return load;
    if (!said) {
      process.stderr.write(
        `  waiting for other processes to leave the CPUs (${load.toFixed(2)} cores busy)\n`,
      );
      said = true;
    }
    await sleep(1500);
  }
}

/** Other processes' CPU above which a measurement is redone (in cores). */
const QUIET_LOAD = 0.1;
const NOISY = 0.15;
const RETRIES = 3;

/** Measures once on a quiet machine; redoes it when other processes took CPU meanwhile. */
/**
 * Runs `measureOnce` on a quiet machine; runs it again when other processes took CPU
 * meanwhile (up to RETRIES times; the last result is then marked noisy).
 */
async function quietly(label, measureOnce, quietWaitMs) {
  let result;
  for (let attempt = 0; attempt <= RETRIES; attempt++) {
    await waitQuiet(quietWaitMs);
    const start = Date.now();
    result = await measureOnce();
    result.seconds = (Date.now() - start) / 1000;
    if (result.error || !(result.foreignCpu > NOISY)) return result;
    process.stderr.write(
      `  other processes took ${result.foreignCpu.toFixed(2)} cores during ${label}: measuring again\n`,
    );
  }
  result.noisy = true;
  return result;
}

/** One server, fresh, with one load generator run. */
async function measure(server, scenario, pin) {
  const cpus = cpusFor(scenario, pin);
  let handle;
  try {
    handle = await startServer(server, scenario, cpus);
  } catch (error) {
    return { error: String(error.message ?? error) };
  }
  try {
    const cfg = {
      kind: server.kind,
      port: handle.port,
      pid: handle.pid,
      gc: !server.deno,
      params: scenario.params,
    };
    const result = await runLoadgen(cfg, cpus?.[1], 180_000);
    if (handle.child.exitCode !== null) {
      result.error ??= `server exited during the run: ${handle.stderr().trim().slice(-300)}`;
    }
    return result;
  } finally {
    await stopServer(handle);
  }
}

/**
 * Every server at once, fresh, with one load generator run that gives each its turn in
 * blocks (the latency scenario). Returns { perServer: { id: result } }.
 */
async function measureTogether(servers, scenario, pin) {
  const cpus = cpusFor(scenario, pin);
  const handles = [];
  const perServer = {};
  try {
    for (const server of servers) {
      try {
        handles.push({ server, handle: await startServer(server, scenario, cpus) });
      } catch (error) {
        perServer[server.id] = { error: String(error.message ?? error) };
      }
    }
    const cfg = {
      targets: handles.map(({ server, handle }) => ({
        id: server.id,
        kind: server.kind,
        port: handle.port,
        pid: handle.pid,
      })),
      params: scenario.params,
    };
    const result = await runLoadgen(cfg, cpus?.[1], 180_000);
    for (const { server, handle } of handles) {
      if (result.error) perServer[server.id] = { error: result.error };
      else if (handle.child.exitCode !== null)
        perServer[server.id] = { error: 'server exited during the run' };
      else perServer[server.id] = result.perServer[server.id];
    }
    return { perServer, foreignCpu: result.foreignCpu, error: result.error };
  } finally {
    for (const { handle } of handles) await stopServer(handle);
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

/** `--render`: the report of the last run written again from its results.json, measuring nothing. */
function render() {
  const report = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8'));
  writeFileSync(join(outDir, 'results.md'), renderMarkdown(report));
  writeFileSync(join(outDir, 'chart.svg'), renderSvg(report));
  process.stderr.write(`wrote ${join('docs', 'bench')}/results.md, chart.svg from results.json\n`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.render) return render();
  const rounds = opts.rounds ?? (opts.quick ? 1 : 3);
  let servers = [...NODE_SERVERS, ...denoServers()];
  if (opts.servers) servers = servers.filter((s) => opts.servers.includes(s.id));
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
  const results = {};
  for (const server of active) results[server.id] = {};
  for (let round = 0; round < rounds; round++) {
    for (const scenario of list) {
      // Each round starts the rotation at another server, so no server always goes first.
      const order = active.map((_, i) => active[(i + round) % active.length]);
      const record = (server, id, one, seconds) => {
        const runs = results[server.id][id]?.runs ?? [];
        runs.push(one);
        results[server.id][id] = { runs };
        const elapsed = ((Date.now() - started) / 1000).toFixed(0);
        process.stderr.write(
          `[${elapsed}s] round ${round + 1}/${rounds} ${id.padEnd(9)} ${server.id.padEnd(16)} ${brief(one)} (${seconds?.toFixed(1)} s)\n`,
        );
      };
      const eligible = [];
      for (const server of order) {
        const reason = skipReason(server, scenario);
        if (reason) {
          for (const id of producedIds(scenario)) results[server.id][id] = { skipped: reason };
        } else eligible.push(server);
      }
      if (scenario.together) {
        const result = await quietly(
          `${scenario.id} of every server`,
          () => measureTogether(eligible, scenario, opts.pin),
          opts.quietWaitMs,
        );
        for (const server of eligible) {
          const one = result.perServer?.[server.id] ?? { error: result.error ?? 'no result' };
          record(server, scenario.id, { ...one, noisy: result.noisy }, result.seconds);
        }
        continue;
      }
      const repeated = [];
      for (let r = 0; r < (scenario.repeat ?? 1); r++) {
        repeated.push(...eligible.map((_, i) => eligible[(i + r) % eligible.length]));
      }
      for (const server of repeated) {
        const result = await quietly(
          `${server.id} ${scenario.id}`,
          () => measure(server, scenario, opts.pin),
          opts.quietWaitMs,
        );
        producedIds(scenario).forEach((id, i) => {
          const one =
            result.steps && !result.error ? { ...result.steps[i], noisy: result.noisy } : result;
          record(server, id, one, result.seconds);
        });
      }
    }
  }

  const report = {
    date: new Date().toISOString(),
    durationSec: Math.round((Date.now() - started) / 1000),
    mode: opts.quick ? 'quick' : 'full',
    rounds,
    pinned: opts.pin,
    machine: { ...machine(), deno: denoVersion() },
    versions: {
      ws: versionOf('ws'),
      crossws: versionOf('crossws'),
      '@hono/node-ws': versionOf('@hono/node-ws'),
      '@hono/node-server': versionOf('@hono/node-server'),
      'socket.io': versionOf('socket.io'),
    },
    servers: active.map(({ id, label, kind, ours, peer, ceiling, deno }) => ({
      id,
      label,
      kind,
      ours: !!ours,
      peer: !!peer,
      ceiling: !!ceiling,
      deno: !!deno,
    })),
    skippedServers: skipped,
    scenarios: list.flatMap((s) =>
      s.produces
        ? s.produces.map((id, i) => ({
            id,
            title: s.titles[i],
            params: { ...s.params, subscribers: s.params.steps[i] },
            sameCore: false,
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
  };
  const markdown = renderMarkdown(report);
  process.stdout.write(`\n${markdown}\n`);
  if (opts.write) {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'results.md'), markdown);
    writeFileSync(join(outDir, 'chart.svg'), renderSvg(report));
    writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`wrote ${join('docs', 'bench')}/results.md, chart.svg, results.json\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});

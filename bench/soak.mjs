// The churn soak (issue 12): against @anyws/node and @anyws/deno, each in a child process on
// 127.0.0.1, it holds IDLE connections open and runs CYCLES connect / exchange / close cycles
// beside them, then checks that the server's RSS and heap came back within 5 % of the
// baseline taken after a warm-up, with the same count of handles and timers. Bounded in count
// and in time (--time-limit per runtime). Never part of `pnpm test`: a 1,000-cycle version
// without timing is (packages/node/test/churn.test.ts, packages/deno/test/churn.test.ts).
//
//   node bench/soak.mjs                       # 20,000 cycles, 5,000 idle, Node then Deno
//   node bench/soak.mjs --runtimes node --cycles 2000 --idle 500 --no-write
//
// The figures go to docs/bench/soak.md and soak.json (unless --no-write).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = dirname(fileURLToPath(import.meta.url));
const docs = join(here, '..', 'docs', 'bench');

function flag(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = process.argv[index + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}
const CYCLES = Number(flag('cycles', 20_000));
const IDLE = Number(flag('idle', 5_000));
const WARMUP = Number(flag('warmup', 2_000));
const CONCURRENCY = Number(flag('concurrency', 50));
const TIME_LIMIT_S = Number(flag('time-limit', 300));
const RUNTIMES = flag('runtimes', 'node,deno').split(',');
const WRITE = !process.argv.includes('--no-write');
/** How far RSS and heap may be from the baseline after the churn. */
const TOLERANCE = 0.05;
for (const [name, value] of Object.entries({ CYCLES, IDLE, WARMUP, CONCURRENCY, TIME_LIMIT_S })) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number`);
}

function denoBinary() {
  // The npm package's binary itself (not the node shim in .bin): the server is Deno's process.
  const direct = join(here, 'node_modules', 'deno', 'deno');
  return existsSync(direct) ? direct : join(here, 'node_modules', '.bin', 'deno');
}

/** Starts a soak server; resolves with its port and a `stats()` that asks it for its figures. */
async function startServer(runtime) {
  const [command, args] =
    runtime === 'node'
      ? [process.execPath, ['--expose-gc', join(here, 'soak', 'server-node.mjs')]]
      : [
          denoBinary(),
          ['run', '-A', '--v8-flags=--expose-gc', join(here, 'soak', 'server-deno.ts')],
        ];
  const child = spawn(command, args, {
    cwd: here,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const waiting = [];
  let readyResolve;
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime}: no ready line in 30 s`)), 30_000);
    readyResolve = (port) => {
      clearTimeout(timer);
      resolve(port);
    };
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${runtime} server exited (${code}): ${stderr.trim()}`));
    });
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const readyMatch = /^ready (\d+)$/.exec(line);
    if (readyMatch) readyResolve(Number(readyMatch[1]));
    else if (line.startsWith('stats ')) waiting.shift()?.(JSON.parse(line.slice(6)));
  });
  const port = await ready;
  return {
    port,
    stats() {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${runtime}: no stats in 30 s`)), 30_000);
        waiting.push((value) => {
          clearTimeout(timer);
          resolve(value);
        });
        child.stdin.write('stats\n');
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Opens one client connection; rejects after 10 s. */
function open(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('open: no answer in 10 s'));
    }, 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** One cycle: connect, send 64 bytes and get them back, close with 1000 and see the close. */
async function cycle(port) {
  const ws = await open(port);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cycle: no echo or close in 10 s')), 10_000);
    ws.once('message', () => ws.close(1000));
    ws.once('close', (code) => {
      clearTimeout(timer);
      if (code === 1000) resolve();
      else reject(new Error(`cycle: closed with ${code}`));
    });
    ws.once('error', reject);
    ws.send('x'.repeat(64));
  });
}

/** Runs `count` cycles, CONCURRENCY at a time; `onProgress(done)` every `every` cycles. */
async function churn(port, count, deadline, every = Number.POSITIVE_INFINITY, onProgress) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      if (Date.now() > deadline) throw new Error('time limit reached during the churn');
      await cycle(port);
      done++;
      if (done % every === 0) await onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
}

/** Asks for stats until the server holds `connections` (its closes are asynchronous). */
async function settledStats(server, connections, deadline) {
  for (;;) {
    const stats = await server.stats();
    if (stats.connections === connections) return stats;
    if (Date.now() > deadline) {
      throw new Error(`the server holds ${stats.connections} connections, not ${connections}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function mib(bytes) {
  return (bytes / 2 ** 20).toFixed(1);
}

function within(after, base) {
  return Math.abs(after - base) <= base * TOLERANCE;
}

async function soak(runtime) {
  const started = Date.now();
  const deadline = started + TIME_LIMIT_S * 1000;
  const server = await startServer(runtime);
  const idle = [];
  try {
    console.log(`${runtime}: warm-up, ${WARMUP} cycles`);
    await churn(server.port, WARMUP, deadline);
    const empty = await settledStats(server, 0, deadline);
    console.log(`${runtime}: opening ${IDLE} idle connections`);
    for (let i = 0; i < IDLE; i += CONCURRENCY) {
      const batch = Math.min(CONCURRENCY, IDLE - i);
      idle.push(...(await Promise.all(Array.from({ length: batch }, () => open(server.port)))));
      if (Date.now() > deadline) throw new Error('time limit reached opening idle connections');
    }
    // A second warm-up beside the idle ones, so the baseline holds what a churn leaves warm.
    await churn(server.port, WARMUP, deadline);
    const baseline = await settledStats(server, IDLE, deadline);
    console.log(
      `${runtime}: baseline rss ${mib(baseline.rss)} MiB heap ${mib(baseline.heapUsed)} MiB; churning ${CYCLES} cycles`,
    );
    const peak = { rss: baseline.rss, heapUsed: baseline.heapUsed };
    const churnStart = Date.now();
    await churn(server.port, CYCLES, deadline, Math.max(1, Math.floor(CYCLES / 10)), async (n) => {
      // Sampled during the churn (after a GC, as every figure here): the peak of live memory.
      const s = await server.stats();
      peak.rss = Math.max(peak.rss, s.rss);
      peak.heapUsed = Math.max(peak.heapUsed, s.heapUsed);
      console.log(`${runtime}:   ${n} cycles, rss ${mib(s.rss)} MiB heap ${mib(s.heapUsed)} MiB`);
    });
    const churnSeconds = (Date.now() - churnStart) / 1000;
    const after = await settledStats(server, IDLE, deadline);
    peak.rss = Math.max(peak.rss, after.rss);
    peak.heapUsed = Math.max(peak.heapUsed, after.heapUsed);
    for (const ws of idle.splice(0)) ws.close(1000);
    const closed = await settledStats(server, 0, deadline);
    const checks = {
      rss: within(after.rss, baseline.rss),
      heap: within(after.heapUsed, baseline.heapUsed),
      resources: JSON.stringify(after.resources) === JSON.stringify(baseline.resources),
      listeners: JSON.stringify(after.listeners) === JSON.stringify(baseline.listeners),
    };
    return {
      runtime,
      cycles: CYCLES,
      idle: IDLE,
      warmup: WARMUP,
      concurrency: CONCURRENCY,
      churnSeconds,
      empty,
      baseline,
      peak,
      after,
      closed,
      checks,
      pass: Object.values(checks).every(Boolean),
    };
  } finally {
    for (const ws of idle) ws.terminate();
    await server.stop();
  }
}

function pct(after, base) {
  const p = ((after - base) / base) * 100;
  return `${p >= 0 ? '+' : ''}${p.toFixed(1)} %`;
}

function counts(record) {
  if (!record) return 'n/a';
  const entries = Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k} ${v}`).join(', ');
}

/** The commit measured, and whether the tree had changes beside it. */
function revision() {
  try {
    const git = (...args) => execFileSync('git', args, { cwd: here, encoding: 'utf8' }).trim();
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    return `commit ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in the tree' : ''}`;
  } catch {
    return 'an unknown commit';
  }
}

function render(results) {
  const lines = [
    '# Churn soak',
    '',
    `\`node bench/soak.mjs\` (issue 12), run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at`,
    `${revision()}, on ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}.`,
    'Each server runs in its own process on 127.0.0.1 with a pull-API echo session. The client',
    '(`ws`, in the runner process) first runs a warm-up, opens the idle connections, runs a second',
    'warm-up beside them and takes the **baseline**; then the churn: each cycle connects, sends 64',
    'bytes, gets them back and closes with 1000, with the idle connections held open throughout.',
    '**Peak** is the highest figure sampled ten times during the churn; **after** is taken once the',
    'server is back to the idle connections alone. Every figure is read by the server about itself',
    'after two full garbage collections. The check: RSS and heap after the churn within 5 % of the',
    'baseline, the same handles and timers, the same listeners.',
    '',
  ];
  for (const r of results) {
    const title = r.runtime === 'node' ? '@anyws/node (Node)' : '@anyws/deno (Deno)';
    lines.push(
      `## ${title}: ${r.pass ? 'PASS' : 'MISS'}`,
      '',
      `${r.cycles.toLocaleString('en')} cycles, ${r.idle.toLocaleString('en')} idle connections, ${r.concurrency} cycles at a time, warm-up ${r.warmup.toLocaleString('en')} + ${r.warmup.toLocaleString('en')} cycles; the churn took ${r.churnSeconds.toFixed(1)} s (${Math.round(r.cycles / r.churnSeconds).toLocaleString('en')} cycles/s).`,
      '',
      '| | no connections (after warm-up) | baseline | peak | after the churn | vs baseline | all closed |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      `| RSS (MiB) | ${mib(r.empty.rss)} | ${mib(r.baseline.rss)} | ${mib(r.peak.rss)} | ${mib(r.after.rss)} | ${pct(r.after.rss, r.baseline.rss)} | ${mib(r.closed.rss)} |`,
      `| heap used (MiB) | ${mib(r.empty.heapUsed)} | ${mib(r.baseline.heapUsed)} | ${mib(r.peak.heapUsed)} | ${mib(r.after.heapUsed)} | ${pct(r.after.heapUsed, r.baseline.heapUsed)} | ${mib(r.closed.heapUsed)} |`,
      `| open connections | ${r.empty.connections} | ${r.baseline.connections} | | ${r.after.connections} | | ${r.closed.connections} |`,
      `| active resources | ${counts(r.empty.resources)} | ${counts(r.baseline.resources)} | | ${counts(r.after.resources)} | ${r.checks.resources ? 'same' : 'DIFFERENT'} | ${counts(r.closed.resources)} |`,
      `| server listeners | ${counts(r.empty.listeners)} | ${counts(r.baseline.listeners)} | | ${counts(r.after.listeners)} | ${r.checks.listeners ? 'same' : 'DIFFERENT'} | ${counts(r.closed.listeners)} |`,
      '',
    );
  }
  lines.push(
    'RSS after all connections closed stays above the figure with none: the allocator keeps the',
    'pages it took for them (the heap, which the garbage collector gives back, returns).',
    '',
    "Active resources: Node's `process.getActiveResourcesInfo()` (handles and timers by kind).",
    'Deno 2 has no `Deno.resources()`; its `node:process` `getActiveResourcesInfo()` lists timers',
    "only, so on Deno the timers are checked and the sockets through the server's own count.",
    '',
  );
  return lines.join('\n');
}

const results = [];
for (const runtime of RUNTIMES) {
  if (runtime !== 'node' && runtime !== 'deno') throw new Error(`unknown runtime ${runtime}`);
  const result = await soak(runtime);
  results.push(result);
  console.log(
    `${runtime}: ${result.pass ? 'PASS' : 'MISS'} rss ${mib(result.baseline.rss)} -> peak ${mib(result.peak.rss)} -> ${mib(result.after.rss)} MiB (${pct(result.after.rss, result.baseline.rss)}), heap ${mib(result.baseline.heapUsed)} -> peak ${mib(result.peak.heapUsed)} -> ${mib(result.after.heapUsed)} MiB (${pct(result.after.heapUsed, result.baseline.heapUsed)}), resources ${result.checks.resources ? 'same' : 'DIFFERENT'}`,
  );
}
const report = render(results);
if (WRITE) {
  mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, 'soak.md'), report);
  writeFileSync(join(docs, 'soak.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`written: docs/bench/soak.md, docs/bench/soak.json`);
} else {
  console.log(report);
}
process.exitCode = results.every((r) => r.pass) ? 0 : 1;

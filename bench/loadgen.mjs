// The load generator: one process per scenario and round, the same for every server, speaking
// to every server of the scenario (they all keep running through the round).
// Usage: node loadgen.mjs '<json>' with { targets: [{ id, kind, port, pid, gc }], ids, params,
// slackMs }. Prints one JSON line: { perServer: { <server>: { <result id>: [run, …] } },
// foreignCpu, slackUsedMs }, or { error }.
//
// Rate scenarios (echo, connections opened) give the servers turns: a short window on one
// server while the others wait with their connections open, then the next, several times and
// in alternating order (A B C, C B A, …). Run i of every server comes from the same pass, so
// ratios pair windows a second or two apart, and a change in the machine's state hits every
// server alike. A window that other processes disturbed is measured again while the run's
// slack (slackMs) lasts.
import { sioDriver, wsDriver } from './lib/drivers.mjs';
import {
  clearHeapFile,
  machineBusyMicros,
  ownCpuMicros,
  readHeapFile,
  rssBytes,
  threadCpu,
  threadCpuMicros,
} from './lib/proc.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const t0 = performance.now();
/** A progress line on stderr (the runner passes it on): where a phase spends its time. */
function progress(text) {
  process.stderr.write(`    +${((performance.now() - t0) / 1000).toFixed(1)}s ${text}\n`);
}

/** Other processes' CPU (in cores) above which a window is measured again. */
const NOISY = 0.15;
/** How many times one window is measured again. */
const RETRIES = 2;

/**
 * Server and generator CPU over a window, so a bottleneck in the generator shows, and the CPU
 * that other processes took meanwhile (in cores), so a disturbed window can be redone.
 * `pids` are the servers (all counted as ours); the first is the one measured.
 */
function cpuMeter(pids) {
  const server0 = pids.map((pid) => threadCpu(pid));
  const own0 = ownCpuMicros();
  const machine0 = machineBusyMicros();
  const t0 = performance.now();
  return () => {
    const wallUs = (performance.now() - t0) * 1000;
    const each = pids.map((pid, i) => threadCpuMicros(server0[i], threadCpu(pid)));
    const allUs = each.reduce((a, b) => a + b, 0);
    const ownUs = ownCpuMicros() - own0;
    const otherUs = machineBusyMicros() - machine0 - allUs - ownUs;
    return {
      wallUs,
      serverUs: each[0],
      serverCpu: each[0] / wallUs,
      loadgenCpu: ownUs / wallUs,
      foreignCpu: Math.max(0, otherUs / wallUs),
    };
  };
}

/**
 * Resolves once the servers `pids` stop working (less than 5% of a core over two 10 ms polls
 * in a row, and at least `minMs` after the call): the condition that replaces a fixed pause
 * after a broadcast, a forced GC or thousands of closed connections. Gives up after `maxMs`.
 */
async function serversIdle(pids, { minMs = 0, maxMs = 5000 } = {}) {
  const t0 = performance.now();
  const total = () =>
    pids.reduce((sum, pid) => sum + threadCpuMicros(new Map(), threadCpu(pid)), 0);
  let last = total();
  let calm = 0;
  while (performance.now() - t0 < maxMs) {
    await sleep(10);
    const now = total();
    calm = now - last < 500 ? calm + 1 : 0;
    last = now;
    if (calm >= 2 && performance.now() - t0 >= minMs) return;
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The run's slack for measuring disturbed windows again, in ms. */
const slack = { left: 0, used: 0 };

/**
 * Measures `once()` (one window); when other processes took CPU meanwhile, measures it again
 * while the slack lasts (up to RETRIES times), else marks it noisy.
 */
async function steady(once) {
  for (let attempt = 0; ; attempt++) {
    const start = performance.now();
    const result = await once();
    result.seconds = (performance.now() - start) / 1000;
    if (!(result.foreignCpu > NOISY)) return result;
    const ms = performance.now() - start;
    if (attempt >= RETRIES || slack.left < ms) return { ...result, noisy: true };
    slack.left -= ms;
    slack.used += ms;
  }
}

/**
 * Turns on the targets' loads: a first warm-up each, then `turns` passes, each giving every
 * target one window, the order reversed on every other pass. `load(target)` has start(),
 * primed(), count() and stop(); `figures(count, cpu)` turns a window into a run.
 */
async function inTurns(targets, loads, params, figures) {
  const { firstWarmupMs, warmupMs, durationMs, turns } = params;
  const pids = targets.map((t) => t.pid);
  const window = async (i, warmMs) => {
    const load = loads[i];
    load.start();
    await Promise.all([sleep(warmMs), load.primed(10_000)]);
    const before = load.count();
    const meter = cpuMeter([pids[i], ...pids.filter((_, j) => j !== i)]);
    await sleep(durationMs);
    const count = load.count() - before;
    const cpu = meter();
    await load.stop(30_000);
    if (count === 0) throw new Error('nothing came back');
    return { ...figures(count, cpu), foreignCpu: cpu.foreignCpu };
  };
  const runs = targets.map(() => []);
  const failed = targets.map(() => null);
  const guarded = async (i, fn) => {
    if (failed[i]) return;
    try {
      await fn();
    } catch (error) {
      failed[i] = String(error?.message ?? error);
    }
  };
  // A server may ask for a longer first warm-up than the scenario's (run.mjs: Deno's).
  const firstFor = (target) => Math.max(firstWarmupMs, target.minFirstWarmupMs ?? 0);
  // Servers already warm from earlier scenarios (the size sweep's cells) skip this pass.
  for (let i = 0; i < targets.length && firstWarmupMs > 0; i++) {
    await guarded(i, async () => {
      loads[i].start();
      await Promise.all([sleep(firstFor(targets[i])), loads[i].primed(10_000)]);
      await loads[i].stop(30_000);
    });
  }
  for (let t = 0; t < turns; t++) {
    const order = targets.map((_, i) => (t % 2 === 0 ? i : targets.length - 1 - i));
    for (const i of order) {
      await guarded(i, async () => runs[i].push(await steady(() => window(i, warmupMs))));
    }
  }
  return targets.map((_, i) => (failed[i] ? [...runs[i], { error: failed[i] }] : runs[i]));
}

/** Pipelined echo: `conns` connections with `inflight` messages each, in turns. */
async function echo(targets, params) {
  const loads = [];
  const ready = [];
  for (const target of targets) {
    try {
      loads.push(await (await driverFor(target)).pump(params));
      ready.push(target);
    } catch (error) {
      target.error = `opening the connections: ${error?.message ?? error}`;
    }
  }
  try {
    const runs = await inTurns(ready, loads, params, (count, cpu) => ({
      rate: count / (cpu.wallUs / 1e6),
      serverUsPerMsg: cpu.serverUs / count,
      serverCpu: cpu.serverCpu,
      loadgenCpu: cpu.loadgenCpu,
    }));
    ready.forEach((target, i) => {
      const problem = loads[i].check();
      target.runs = problem ? [...runs[i], { error: problem }] : runs[i];
    });
  } finally {
    for (const load of loads) load.close();
  }
}

/** Connections opened (handshake complete) and dropped, `concurrency` at a time, in turns. */
async function connrate(targets, params) {
  const loads = [];
  for (const target of targets) {
    const driver = await driverFor(target);
    let done = 0;
    let running = false;
    let workers = [];
    let failure = null;
    let startedAt = 0;
    let onDone = null;
    const worker = async () => {
      while (running) {
        try {
          await driver.openClose();
          done++;
          onDone?.();
        } catch (error) {
          failure ??= error;
          running = false;
        }
      }
    };
    loads.push({
      count: () => done,
      start() {
        running = true;
        startedAt = done;
        workers = Array.from({ length: params.concurrency }, worker);
      },
      // Flowing once as many connections as run at a time have completed since the start.
      primed: (ms) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            onDone = null;
            reject(new Error(`no ${params.concurrency} connections opened within ${ms} ms`));
          }, ms);
          onDone = () => {
            if (done - startedAt < params.concurrency) return;
            onDone = null;
            clearTimeout(timer);
            resolve();
          };
          onDone();
        }),
      async stop() {
        running = false;
        await Promise.all(workers);
        if (failure) throw failure;
      },
    });
  }
  const runs = await inTurns(targets, loads, params, (count, cpu) => ({
    rate: count / (cpu.wallUs / 1e6),
    serverUsPerConn: cpu.serverUs / count,
    loadgenCpu: cpu.loadgenCpu,
  }));
  targets.forEach((target, i) => {
    target.runs = runs[i];
  });
}

/**
 * Sequential round trips, one connection per server, every server of the run at once: the
 * servers take turns in blocks, so a change in the machine's state hits them all alike.
 */
async function latency(targets, params) {
  const pingers = [];
  try {
    for (const target of targets) pingers.push(await (await driverFor(target)).pinger(params));
    for (const pinger of pingers) {
      await pinger.run({ warmup: params.warmup, count: 1, maxMs: params.maxMs });
    }
    const samples = pingers.map(() => []);
    const meter = cpuMeter(targets.map((t) => t.pid));
    const blocks = Math.ceil(params.count / params.block);
    for (let b = 0; b < blocks; b++) {
      for (let k = 0; k < pingers.length; k++) {
        const i = (b + k) % pingers.length;
        const got = await pingers[i].run({ warmup: 0, count: params.block, maxMs: params.maxMs });
        samples[i].push(...got);
      }
    }
    const { foreignCpu } = meter();
    targets.forEach((target, i) => {
      const sorted = samples[i].sort((a, b) => a - b);
      target.runs = [
        {
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          samples: sorted.length,
          foreignCpu,
          ...(foreignCpu > NOISY ? { noisy: true } : {}),
        },
      ];
    });
  } finally {
    for (const pinger of pingers) pinger.close();
  }
}

/** A 128-byte chat-like message; the sequence number keeps every broadcast distinct. */
function chatMessage(seq) {
  const head = `{"type":"chat","room":"lobby","user":"alice","seq":${seq},"text":"`;
  const tail = '"}';
  const filler = 'hello everyone, the next train leaves at noon from platform nine. ';
  return head + filler.repeat(2).slice(0, 128 - head.length - tail.length) + tail;
}

/**
 * One message published to every subscriber: time until the last one has it. Runs for each
 * step of `steps` on the same server, adding subscribers between steps (2,000 then 10,000).
 * One server after the other: each holds thousands of connections.
 */
async function broadcastOne(target, params, pids) {
  const driver = await driverFor(target);
  const groups = [];
  let subscribers = 0;
  let deliver = () => {};
  const pub = await driver.publisher();
  const results = [];
  let seq = 0;
  let compressed = 0;
  let known = 0;
  const once = () =>
    new Promise((resolve) => {
      let received = 0;
      const timer = setTimeout(() => resolve(null), params.timeoutMs);
      const start = performance.now();
      deliver = (isCompressed) => {
        if (isCompressed !== null) {
          known++;
          if (isCompressed) compressed++;
        }
        if (++received === subscribers) {
          clearTimeout(timer);
          resolve(performance.now() - start);
        }
      };
      pub.publish(chatMessage(seq++));
    });
  // Each broadcast is timed alone: the next leaves once the server has finished with the last.
  const idle = () => serversIdle([target.pid], { maxMs: 1000 });
  try {
    for (const [index, count] of params.steps.entries()) {
      const group = await driver.subscribers({
        count: count - subscribers,
        compress: params.compress,
      });
      group.onDeliver((isCompressed) => deliver(isCompressed));
      groups.push(group);
      subscribers = count;
      progress(`${target.id}: ${count} subscribers`);
      // The server before this one may still be closing its thousands of connections (they
      // closed while these opened, which is not timed): every server at rest before timing.
      await serversIdle(pids);
      // Warm-up broadcasts also prove that every subscription is in place before timing.
      let warm = 0;
      for (let attempt = 0; warm < params.warmup && attempt < params.warmup + 5; attempt++) {
        if ((await once()) !== null) warm++;
        await idle();
      }
      if (warm < params.warmup) {
        throw new Error(`not every one of ${count} subscribers received the warm-up broadcasts`);
      }
      const step = await steady(async () => {
        compressed = 0;
        known = 0;
        const times = [];
        const rounds = params.rounds[index];
        const meter = cpuMeter([target.pid]);
        for (let i = 0; i < rounds; i++) {
          const ms = await once();
          if (ms === null) throw new Error(`broadcast ${i} did not reach all ${count} in time`);
          times.push(ms);
          await idle();
        }
        const cpu = meter();
        times.sort((a, b) => a - b);
        const ms = times[Math.floor(times.length / 2)];
        return {
          subscribers: count,
          ms,
          deliveriesPerSec: count / (ms / 1000),
          serverUsPerDelivery: cpu.serverUs / (rounds * count),
          negotiated: groups.every((g) => g.negotiated),
          compressedShare: known === 0 ? null : compressed / known,
          foreignCpu: cpu.foreignCpu,
        };
      });
      results.push(step);
      progress(`${target.id}: ${params.rounds[index]} broadcasts to ${count}`);
    }
    return results;
  } finally {
    deliver = () => {};
    pub.close();
    for (const group of groups) group.close();
  }
}

async function broadcast(targets, params) {
  const pids = targets.map((t) => t.pid);
  for (const target of targets) {
    try {
      target.steps = await broadcastOne(target, params, pids);
    } catch (error) {
      target.error = String(error?.message ?? error);
    }
  }
  // Thousands of closing connections: the next scenario starts on servers at rest.
  await serversIdle(pids);
  progress('every subscriber closed');
}

/** Resident memory the server holds per idle connection, one server after the other. */
async function rssOne(target, params) {
  const driver = await driverFor(target);
  // Returns the heap in use after the collection (Node servers), or null.
  const collect = async () => {
    if (!target.gc) {
      await serversIdle([target.pid], { minMs: 30 });
      return null;
    }
    clearHeapFile(target.pid);
    process.kill(target.pid, 'SIGUSR2');
    await serversIdle([target.pid], { minMs: 30 });
    // The server writes the file at the end of its collections: wait for it (at most 2 s).
    for (let i = 0; i < 200; i++) {
      const heap = readHeapFile(target.pid);
      if (heap !== null) return heap;
      await sleep(10);
    }
    return null;
  };
  // Connections held through the baseline keep code warm-up out of the per-connection figure.
  const closeWarm = await driver.openIdle(params.warmConns);
  const heapBefore = await collect();
  const before = rssBytes(target.pid);
  progress(`${target.id}: ${params.warmConns} open, baseline read`);
  const closeIdle = await driver.openIdle(params.conns);
  progress(`${target.id}: ${params.conns} more open`);
  const heapAfter = await collect();
  const after = rssBytes(target.pid);
  closeIdle();
  closeWarm();
  await serversIdle([target.pid]);
  progress(`${target.id}: read and closed`);
  return {
    perConnKiB: (after - before) / params.conns / 1024,
    heapPerConnB:
      heapBefore === null || heapAfter === null ? null : (heapAfter - heapBefore) / params.conns,
    beforeMiB: before / 2 ** 20,
    afterMiB: after / 2 ** 20,
  };
}

async function rss(targets, params) {
  for (const target of targets) {
    try {
      target.runs = [await rssOne(target, params)];
    } catch (error) {
      target.error = String(error?.message ?? error);
    }
  }
}

const SCENARIOS = { echo, latency, broadcast, rss, connrate };

async function driverFor({ kind, port }) {
  return kind === 'sio' ? await sioDriver(port) : wsDriver(port, kind === 'tcp');
}

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const run = SCENARIOS[cfg.params.type];
  if (!run) throw new Error(`unknown scenario type ${cfg.params.type}`);
  slack.left = cfg.slackMs ?? 0;
  const targets = cfg.targets.map((t) => ({ ...t }));
  const meter = cpuMeter(targets.map((t) => t.pid));
  await run(targets, cfg.params);
  const perServer = {};
  for (const target of targets) {
    const out = {};
    if (target.steps) for (const [i, step] of target.steps.entries()) out[cfg.ids[i]] = [step];
    else if (target.runs) out[cfg.ids[0]] = target.runs;
    if (target.error) {
      for (const id of cfg.ids) out[id] = [...(out[id] ?? []), { error: target.error }];
    }
    perServer[target.id] = out;
  }
  const result = { perServer, foreignCpu: meter().foreignCpu, slackUsedMs: slack.used };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stdout.write(`${JSON.stringify({ error: String(error?.message ?? error) })}\n`);
    process.exit(1);
  },
);

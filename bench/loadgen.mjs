// The load generator: one process per measurement, the same scenarios for every server.
// Usage: node loadgen.mjs '<json>' with { scenario, kind, port, pid, gc, params }.
// Prints one JSON line: the result, or { error }.
import { sioDriver, wsDriver } from './lib/drivers.mjs';
import { cpuMicros, machineBusyMicros, ownCpuMicros, rssBytes } from './lib/proc.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Server and generator CPU over a window, so a bottleneck in the generator shows, and the CPU
 * that other processes took meanwhile (in cores), so a run disturbed by them can be redone.
 * `pid` is the server, or a list of servers (all counted as ours).
 */
function cpuMeter(pid) {
  const pids = Array.isArray(pid) ? pid : [pid];
  const serverCpu = () => pids.reduce((sum, p) => sum + cpuMicros(p), 0);
  const server0 = serverCpu();
  const own0 = ownCpuMicros();
  const machine0 = machineBusyMicros();
  const t0 = performance.now();
  return () => {
    const wallUs = (performance.now() - t0) * 1000;
    const serverUs = serverCpu() - server0;
    const ownUs = ownCpuMicros() - own0;
    const otherUs = machineBusyMicros() - machine0 - serverUs - ownUs;
    return {
      wallUs,
      serverUs,
      serverCpu: serverUs / wallUs,
      loadgenCpu: ownUs / wallUs,
      foreignCpu: Math.max(0, otherUs / wallUs),
    };
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Pipelined echo: `conns` connections with `inflight` messages each, counted over a window. */
async function echo(driver, { pid }, params) {
  const pump = await driver.pump(params);
  await sleep(params.warmupMs);
  const before = pump.count();
  const meter = cpuMeter(pid);
  await sleep(params.durationMs);
  const count = pump.count() - before;
  const cpu = meter();
  pump.close();
  const problem = pump.check();
  if (problem) throw new Error(problem);
  if (count === 0) throw new Error('no echo came back');
  return {
    rate: count / (cpu.wallUs / 1e6),
    serverUsPerMsg: cpu.serverUs / count,
    serverCpu: cpu.serverCpu,
    loadgenCpu: cpu.loadgenCpu,
  };
}

/**
 * Sequential round trips, one connection per server, every server of the run at once: the
 * servers take turns in blocks, so a change in the machine's state hits them all alike.
 */
async function latency(_driver, cfg, params) {
  const pingers = [];
  try {
    for (const target of cfg.targets) {
      const driver = await driverFor(target.kind, target.port);
      pingers.push(await driver.pinger(params));
    }
    for (const pinger of pingers) {
      await pinger.run({ warmup: params.warmup, count: 1, maxMs: params.maxMs });
    }
    const samples = pingers.map(() => []);
    const blocks = Math.ceil(params.count / params.block);
    for (let b = 0; b < blocks; b++) {
      for (let k = 0; k < pingers.length; k++) {
        const i = (b + k) % pingers.length;
        const got = await pingers[i].run({ warmup: 0, count: params.block, maxMs: params.maxMs });
        samples[i].push(...got);
      }
    }
    const perServer = {};
    cfg.targets.forEach((target, i) => {
      const sorted = samples[i].sort((a, b) => a - b);
      perServer[target.id] = {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        samples: sorted.length,
      };
    });
    return { perServer };
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
 */
async function broadcast(driver, { pid }, params) {
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
  try {
    for (const [index, target] of params.steps.entries()) {
      const group = await driver.subscribers({
        count: target - subscribers,
        compress: params.compress,
      });
      group.onDeliver((isCompressed) => deliver(isCompressed));
      groups.push(group);
      subscribers = target;
      // Warm-up broadcasts also prove that every subscription is in place before timing.
      let warm = 0;
      for (let attempt = 0; warm < params.warmup && attempt < params.warmup + 5; attempt++) {
        if ((await once()) !== null) warm++;
        await sleep(20);
      }
      if (warm < params.warmup) {
        throw new Error(`not every one of ${target} subscribers received the warm-up broadcasts`);
      }
      compressed = 0;
      known = 0;
      const times = [];
      const rounds = params.rounds[index];
      const meter = cpuMeter(pid);
      for (let i = 0; i < rounds; i++) {
        const ms = await once();
        if (ms === null) throw new Error(`broadcast ${i} did not reach all ${target} in time`);
        times.push(ms);
        // Let the server go idle so each broadcast is timed alone.
        await sleep(Math.min(200, Math.max(5, ms)));
      }
      const cpu = meter();
      times.sort((a, b) => a - b);
      const ms = times[Math.floor(times.length / 2)];
      results.push({
        subscribers: target,
        ms,
        deliveriesPerSec: target / (ms / 1000),
        serverUsPerDelivery: cpu.serverUs / (rounds * target),
        negotiated: groups.every((g) => g.negotiated),
        compressedShare: known === 0 ? null : compressed / known,
        foreignCpu: cpu.foreignCpu,
      });
    }
    return { steps: results };
  } finally {
    deliver = () => {};
    pub.close();
    for (const group of groups) group.close();
  }
}

/** Resident memory the server holds per idle connection. */
async function rss(driver, { pid, gc }, params) {
  const collect = async () => {
    if (gc) process.kill(pid, 'SIGUSR2');
    await sleep(params.settleMs);
  };
  // Connections held through the baseline keep code warm-up out of the per-connection figure.
  const closeWarm = await driver.openIdle(params.warmConns);
  await collect();
  const before = rssBytes(pid);
  const closeIdle = await driver.openIdle(params.conns);
  await sleep(params.settleMs);
  await collect();
  const after = rssBytes(pid);
  closeIdle();
  closeWarm();
  return {
    perConnKiB: (after - before) / params.conns / 1024,
    beforeMiB: before / 2 ** 20,
    afterMiB: after / 2 ** 20,
  };
}

/** Connections opened (handshake complete) and dropped, `concurrency` at a time. */
async function connrate(driver, { pid }, params) {
  let done = 0;
  let stop = false;
  let failure = null;
  const worker = async () => {
    while (!stop && done < params.max) {
      try {
        await driver.openClose();
        done++;
      } catch (error) {
        failure ??= error;
        stop = true;
      }
    }
  };
  const workers = [];
  for (let w = 0; w < params.concurrency; w++) workers.push(worker());
  await sleep(params.warmupMs);
  const before = done;
  const meter = cpuMeter(pid);
  await sleep(params.durationMs);
  const count = done - before;
  const cpu = meter();
  stop = true;
  await Promise.all(workers);
  if (failure) throw failure;
  return {
    rate: count / (cpu.wallUs / 1e6),
    serverUsPerConn: cpu.serverUs / count,
    loadgenCpu: cpu.loadgenCpu,
  };
}

const SCENARIOS = { echo, latency, broadcast, rss, connrate };

async function driverFor(kind, port) {
  return kind === 'sio' ? await sioDriver(port) : wsDriver(port, kind === 'tcp');
}

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const run = SCENARIOS[cfg.params.type];
  if (!run) throw new Error(`unknown scenario type ${cfg.params.type}`);
  const driver = cfg.targets ? null : await driverFor(cfg.kind, cfg.port);
  const meter = cpuMeter(cfg.targets ? cfg.targets.map((t) => t.pid) : cfg.pid);
  const result = await run(driver, cfg, cfg.params);
  result.foreignCpu = meter().foreignCpu;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stdout.write(`${JSON.stringify({ error: String(error?.message ?? error) })}\n`);
    process.exit(1);
  },
);

// What the load generator reads about the server process from /proc (Linux only).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** Resident set size of `pid`, in bytes (VmRSS). */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** CPU time (user + system) of `pid` and all its threads, in microseconds. */
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

/**
 * CPU time of each live thread of `pid`, in nanoseconds, from the scheduler's own counters
 * (`/proc/<pid>/task/<tid>/schedstat`): exact where `/proc/<pid>/stat` counts 10 ms ticks, so
 * a window of a few hundred milliseconds gives server CPU per message to a fraction of a
 * percent. Read two of these and pass them to `threadCpuMicros`.
 */
export function threadCpu(pid) {
  const times = new Map();
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return times;
  }
  for (const tid of tids) {
    try {
      const line = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
      times.set(tid, Number(line.slice(0, line.indexOf(' '))));
    } catch {
      // The thread ended between the listing and the read: its time is not in the window.
    }
  }
  return times;
}

/**
 * CPU (µs) the threads of two `threadCpu` readings spent between them. A thread started
 * meanwhile counts whole; one that ended meanwhile is missing (its share of the window is lost,
 * which the long-lived threads of a server make rare).
 */
export function threadCpuMicros(before, after) {
  let ns = 0;
  for (const [tid, t] of after) ns += t - (before.get(tid) ?? 0);
  return ns / 1000;
}

/** CPU time spent by the whole machine (all CPUs, every process), in microseconds. */
export function machineBusyMicros() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * TICK_US;
}

/** This process's own CPU time, in microseconds. */
export function ownCpuMicros() {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** The machine, for the report. */
export function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(info);
    if (model) cpu = model[1].trim();
  } catch {
    // Not Linux: os.cpus() is the best there is.
  }
  return {
    cpu,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

/**
 * Where a Node server leaves its heap size (bytes in use, after two full collections) when it
 * gets SIGUSR2: RSS moves by megabytes with the collector's own space, heap in use does not.
 */
export function heapFile(pid) {
  return join(os.tmpdir(), `anyws-bench-heap-${pid}`);
}

/** Removes a server's heap file: the next one is then surely from the next collection. */
export function clearHeapFile(pid) {
  rmSync(heapFile(pid), { force: true });
}

/** The heap size a server wrote after its last SIGUSR2, or null when there is none yet. */
export function readHeapFile(pid) {
  try {
    const value = Number(readFileSync(heapFile(pid), 'utf8'));
    return Number.isFinite(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

// What the load generator reads about the server process from /proc (Linux only).
import { readFileSync } from 'node:fs';
import os from 'node:os';

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

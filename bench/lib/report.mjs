// The bench report: medians, ratios to raw ws, the targets of issues 2 and 7, as markdown
// and as a hand-written SVG chart.

/** What the report shows of each scenario: one primary figure per column. */
export const METRICS = [
  {
    id: 'echo64',
    scenario: 'echo64',
    key: 'rate',
    label: 'echo 64 B',
    unit: 'msg/s',
    better: 'higher',
  },
  {
    id: 'echo16k',
    scenario: 'echo16k',
    key: 'rate',
    label: 'echo 16 KiB',
    unit: 'msg/s',
    better: 'higher',
  },
  { id: 'p50', scenario: 'latency', key: 'p50', label: 'latency p50', unit: 'µs', better: 'lower' },
  { id: 'p99', scenario: 'latency', key: 'p99', label: 'latency p99', unit: 'µs', better: 'lower' },
  ...[
    ['bcast2k', 'broadcast 2,000'],
    ['bcast10k', 'broadcast 10,000'],
    ['bcastz2k', 'deflate broadcast 2,000'],
    ['bcastz10k', 'deflate broadcast 10,000'],
  ].map(([scenario, label]) => ({
    id: scenario,
    scenario,
    key: 'deliveriesPerSec',
    label,
    unit: 'deliveries/s',
    better: 'higher',
  })),
  {
    id: 'rss',
    scenario: 'rss',
    key: 'perConnKiB',
    label: 'RSS / idle connection',
    unit: 'KiB',
    better: 'lower',
    diff: true,
  },
  {
    id: 'heap',
    scenario: 'rss',
    key: 'heapPerConnB',
    label: 'heap / idle connection',
    unit: 'B',
    better: 'lower',
    diff: true,
  },
  {
    id: 'connrate',
    scenario: 'connrate',
    key: 'rate',
    label: 'connections opened',
    unit: 'conn/s',
    better: 'higher',
  },
];

const PEERS = ['crossws', 'hono', 'socketio'];

function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The runs of two servers paired: the same round and turn (older reports: the same index),
 * both without error. Returns [a, b] pairs of `key`'s values.
 */
export function paired(runsA, runsB, key) {
  const keyOf = (run, i) => (run.round === undefined ? `#${i}` : `${run.round}.${run.turn}`);
  const byKey = new Map(runsB.map((run, i) => [keyOf(run, i), run]));
  const out = [];
  runsA.forEach((x, i) => {
    const y = byKey.get(keyOf(x, i));
    if (!y || x.error || y.error) return;
    if (typeof x[key] === 'number' && typeof y[key] === 'number') out.push([x[key], y[key]]);
  });
  return out;
}

/** The median of `key` over a server's successful runs of a scenario, with what went wrong. */
export function cell(report, serverId, scenarioId, key) {
  const entry = report.results[serverId]?.[scenarioId];
  if (!entry) return { value: null, note: 'not run' };
  if (entry.skipped) return { value: null, note: entry.skipped };
  const ok = entry.runs.filter(
    (r) => !r.error && typeof r[key] === 'number' && Number.isFinite(r[key]),
  );
  const failed = entry.runs.filter((r) => r.error);
  const noisy = ok.filter((r) => r.noisy).length;
  let note =
    failed.length > 0
      ? `${failed.length}/${entry.runs.length} runs failed: ${failed[0].error}`
      : null;
  if (noisy > 0) {
    note = `${note ? `${note}; ` : ''}${noisy} run(s) shared the CPUs with other processes`;
  }
  return { value: median(ok.map((r) => r[key])), note, runs: ok };
}

function fmt(value, unit) {
  if (value === null || value === undefined) return '–';
  if (unit === 'KiB') return value.toFixed(2);
  if (unit === 'µs' || unit === 'ms') return value >= 100 ? value.toFixed(0) : value.toFixed(1);
  return Math.round(value).toLocaleString('en-US');
}

function ratioText(metric, value, base) {
  if (value === null || base === null || base === 0) return '–';
  if (metric.diff) {
    const d = value - base;
    const amount =
      metric.unit === 'B'
        ? Math.round(Math.abs(d)).toLocaleString('en-US')
        : Math.abs(d).toFixed(2);
    return `${d >= 0 ? '+' : '−'}${amount} ${metric.unit}`;
  }
  return `${(value / base).toFixed(2)}×`;
}

/** The heap side of the RSS target: steadier than RSS, which moves with the collector's space. */
function heapNote(a, b) {
  if (a === null || b === null) return '';
  const d = a - b;
  return `heap in use ${d >= 0 ? '+' : '−'}${Math.round(Math.abs(d)).toLocaleString('en-US')} B per connection (${Math.round(a).toLocaleString('en-US')} against ${Math.round(b).toLocaleString('en-US')} B)`;
}

/** True when `a` is better than `b` for this metric. */
function better(metric, a, b) {
  return metric.better === 'higher' ? a > b : a < b;
}

function serverLabel(report, id) {
  return report.servers.find((s) => s.id === id)?.label ?? id;
}

// ---- targets -----------------------------------------------------------------------------

/** Within this share of each other, two figures are level: closer than the runs repeat. */
const LEVEL = 0.03;

/**
 * The targets of issues 2 and 7, each with its measured ratio (of the medians), the same
 * ratio run by run, paired within each round (how steady it is), and PASS/MISS.
 */
export function evaluateTargets(report) {
  const has = (id) => report.servers.some((s) => s.id === id);
  const metricOf = (id) => METRICS.find((m) => m.id === id);
  const value = (server, metricId) => {
    const metric = metricOf(metricId);
    return cell(report, server, metric.scenario, metric.key).value;
  };
  /** a against b window by window (paired within a round), as a ratio or a difference. */
  const rounds = (a, b, metricId, diff) => {
    const metric = metricOf(metricId);
    const runsOf = (id) => report.results[id]?.[metric.scenario]?.runs ?? [];
    return paired(runsOf(a), runsOf(b), metric.key)
      .map(([x, y]) => (diff ? (x - y).toFixed(2) : (x / y).toFixed(2)))
      .join(', ');
  };
  const rows = [];
  const add = (issue, target, measured, perRound, pass, note = '') =>
    rows.push({
      issue,
      target,
      measured,
      perRound,
      result: pass === null ? 'n/a' : pass ? 'PASS' : 'MISS',
      note,
    });
  /** `server`'s figure over `base`'s, against a bound: `≥` for rates, `≤` for times. */
  const ratioTo = (issue, target, server, base, metricId, bound, atMost = false) => {
    if (!has(server) || !has(base)) {
      return add(issue, target, '–', '', null, `${has(server) ? base : server} not run`);
    }
    const a = value(server, metricId);
    const b = value(base, metricId);
    const r = a === null || b === null ? null : a / b;
    const pass = r === null ? null : atMost ? r <= bound : r >= bound;
    add(issue, target, r === null ? '–' : `${r.toFixed(2)}×`, rounds(server, base, metricId), pass);
  };
  /** `server`'s figure over raw ws's. */
  const ratioTarget = (issue, target, server, metricId, bound, atMost = false) =>
    ratioTo(issue, target, server, 'ws', metricId, bound, atMost);

  ratioTarget('#2', 'echo 64 B, @anyws/node (pull API) ≥ 0.97× ws', 'anyws', 'echo64', 0.97);
  ratioTarget('#7', 'echo 64 B, coalesced writes ≥ 2× ws', 'anyws', 'echo64', 2);
  ratioTarget('#7', 'echo 64 B, coalescing off ≥ 1× ws', 'anyws-nocoalesce', 'echo64', 1);
  {
    // Without coalescing both write once per message: what differs is the work around it.
    const row = rows[rows.length - 1];
    const cpu = (id) => cell(report, id, 'echo64', 'serverUsPerMsg').value;
    const [ours, theirs] = [cpu('anyws-nocoalesce'), cpu('ws')];
    if (row.result === 'MISS' && ours !== null && theirs !== null) {
      row.note = `server CPU ${ours.toFixed(2)} vs ${theirs.toFixed(2)} µs per message`;
    }
  }
  ratioTarget('#2 #7', 'latency p99 ≤ 1.1× ws', 'anyws', 'p99', 1.1, true);
  {
    // The tail moves with the machine more than the servers differ: the figures beside it.
    const row = rows[rows.length - 1];
    const ws = value('ws', 'p99');
    const others = ['anyws-nocoalesce', ...PEERS]
      .filter((id) => has(id) && value(id, 'p99') !== null && ws !== null)
      .map((id) => `${serverLabel(report, id)} ${(value(id, 'p99') / ws).toFixed(2)}×`);
    if (row.result === 'MISS' && others.length > 0) row.note = `same run: ${others.join(', ')}`;
  }
  for (const [id, n] of [
    ['bcast2k', '2,000'],
    ['bcast10k', '10,000'],
  ]) {
    ratioTarget('#7', `broadcast to ${n} ≥ 1.5× the ws loop`, 'anyws', id, 1.5);
    // Every delivery is a write system call of its own: the plain TCP server, which writes a
    // finished frame to each socket and does nothing else, bounds what any server can reach.
    const ceiling = has('tcp') ? value('tcp', id) : null;
    const ws = value('ws', id);
    const row = rows[rows.length - 1];
    if (row.result === 'MISS' && ceiling !== null && ws !== null) {
      row.note = `the TCP ceiling (one write of a ready frame per socket, nothing else) is ${(ceiling / ws).toFixed(2)}× ws in this run`;
    }
  }
  for (const [id, n] of [
    ['bcast2k', '2,000'],
    ['bcast10k', '10,000'],
  ]) {
    // One write system call per delivery bounds every server: the guard is the ceiling itself.
    ratioTo('#14', `broadcast to ${n} ≥ 0.95× the TCP ceiling`, 'anyws', 'tcp', id, 0.95);
    const row = rows[rows.length - 1];
    const cpu = (server) => cell(report, server, id, 'serverUsPerDelivery').value;
    const [ours, ceiling, ws] = [cpu('anyws'), cpu('tcp'), cpu('ws')];
    if (row.result === 'MISS' && ours !== null && ceiling !== null && ws !== null) {
      // CPU per delivery is steadier than deliveries per second over two broadcasts a round.
      row.note = `server CPU per delivery ${ours.toFixed(2)} µs against the ceiling's ${ceiling.toFixed(2)} µs (${(ours / ceiling).toFixed(2)}×) and ws's ${ws.toFixed(2)} µs: what a WebSocket server does per subscriber beyond one write of a ready frame`;
    }
  }
  const denoRaw = report.servers.find((x) => x.deno && !x.ours)?.id ?? 'deno-raw';
  const denoOurs = report.servers.find((x) => x.deno && x.ours)?.id ?? 'deno-anyws';
  for (const [id, label] of [
    ['echo64', '64 B'],
    ['echo16k', '16 KiB'],
  ]) {
    ratioTo('#14', `echo ${label}, @anyws/deno ≥ 0.97× raw Deno`, denoOurs, denoRaw, id, 0.97);
    const row = rows[rows.length - 1];
    if (row.result === 'MISS') {
      // A whole round can run slower for both servers: the pairs' median is steadier than the
      // ratio of the medians, and CPU per message steadier than throughput.
      const runsOf = (server) => report.results[server]?.[id]?.runs ?? [];
      const pairsOf = (key) =>
        paired(runsOf(denoOurs), runsOf(denoRaw), key).map(([x, y]) => x / y);
      const pairs = median(pairsOf('rate'));
      const cpu = median(pairsOf('serverUsPerMsg'));
      if (pairs !== null && cpu !== null) {
        row.note = `median of the paired ratios ${pairs.toFixed(2)}×; server CPU per message ${cpu.toFixed(2)}× (pairs' median); see "Deno" in bench/README.md`;
      }
    }
  }
  for (const [id, n] of [
    ['bcastz2k', '2,000'],
    ['bcastz10k', '10,000'],
  ]) {
    ratioTarget('#7', `deflate broadcast to ${n} ≥ 3× ws compressing per socket`, 'anyws', id, 3);
    // A figure without compression is not a compressed broadcast, whatever its ratio.
    const uncompressed = ['anyws', 'ws'].filter((server) =>
      (cell(report, server, id, 'ms').runs ?? []).some(
        (r) => r.negotiated === false || (r.compressedShare !== null && r.compressedShare < 1),
      ),
    );
    if (uncompressed.length > 0) {
      const row = rows[rows.length - 1];
      row.result = 'MISS';
      row.note = `${uncompressed.join(' and ')} sent frames uncompressed`;
    }
  }
  if (has('anyws')) {
    const a = value('anyws', 'rss');
    const b = value('ws', 'rss');
    const d = a === null || b === null ? null : a - b;
    add(
      '#2 #7 #14',
      'RSS per idle connection ≤ ws + 1 KiB',
      d === null ? '–' : `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(2)} KiB`,
      rounds('anyws', 'ws', 'rss', true),
      d === null ? null : d <= 1,
      [
        d !== null && d > 1
          ? 'each idle connection here is a pull session, waiting in `for await`: see "RSS" in bench/README.md'
          : '',
        heapNote(value('anyws', 'heap'), value('ws', 'heap')),
      ]
        .filter(Boolean)
        .join('; '),
    );
  } else add('#2 #7 #14', 'RSS per idle connection ≤ ws + 1 KiB', '–', '', null, 'anyws not run');

  for (const peer of PEERS) {
    const target = `ahead of ${serverLabel(report, peer)} in every scenario`;
    if (!has('anyws') || !has(peer)) {
      add('#7', target, '–', '', null, 'not run');
      continue;
    }
    let ahead = 0;
    let compared = 0;
    const level = [];
    const behind = [];
    for (const metric of METRICS) {
      const a = value('anyws', metric.id);
      const b = value(peer, metric.id);
      if (a === null || b === null) continue;
      compared++;
      const text = `${metric.label} (${fmt(a, metric.unit)} vs ${fmt(b, metric.unit)} ${metric.unit})`;
      if (Math.abs(a / b - 1) < LEVEL) level.push(text);
      else if (better(metric, a, b)) ahead++;
      else behind.push(text);
    }
    const note = [
      behind.length ? `behind in: ${behind.join('; ')}` : '',
      level.length ? `level (within ${LEVEL * 100}%) in: ${level.join('; ')}` : '',
    ]
      .filter(Boolean)
      .join('. ');
    add(
      '#7',
      target,
      `ahead in ${ahead}/${compared}`,
      '',
      compared === 0 ? null : ahead === compared,
      note,
    );
  }
  return rows;
}

// ---- markdown ----------------------------------------------------------------------------

function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function machineText(report) {
  const m = report.machine;
  return [
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}`,
    `- Node ${m.node}, Deno ${m.deno}; ${Object.entries(report.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `- ${report.mode} run, ${report.rounds} round(s) interleaved between servers${report.roundsPlanned ? ` (of ${report.roundsPlanned} planned: the next would have ended past the time budget)` : ''}, medians shown; ` +
      `${report.durationSec} s in all; ${report.date}` +
      (report.pinned
        ? '; server pinned to CPU 0, load generator to CPU 1'
        : '; processes not pinned'),
    '- Server and load generator share the machine (127.0.0.1). Each server runs in its own process, started for each round and kept through its scenarios (a second one with permessage-deflate for the deflate broadcasts); echo and connection rates give the servers turns of short windows, paired within a round (see bench/README.md).',
    ...(report.phases
      ? [
          `- Time per phase: ${Object.entries(report.phases)
            .map(([k, v]) => `${k} ${v} s`)
            .join(', ')}.`,
        ]
      : []),
    ...report.scenarios
      .filter((s) => s.rounds)
      .map((s) => `- ${s.title}: the first ${s.rounds} rounds only (see bench/README.md).`),
    ...report.scenarios
      .filter((s) => s.sameCore)
      .map(
        (s) =>
          `- ${s.title}: server and load generator pinned to one shared core (see bench/README.md).`,
      ),
  ].join('\n');
}

export function renderMarkdown(report) {
  // The control runs in the size sweep only, which has a table of its own.
  const ids = report.servers.filter((s) => !s.control).map((s) => s.id);
  const metrics = METRICS.filter((m) => report.scenarios.some((s) => s.id === m.scenario));
  const out = [];
  out.push('# anyws benchmark', '', machineText(report), '');

  out.push('## Absolute figures', '');
  out.push(
    table(
      [
        'server',
        ...metrics.map((m) => `${m.label} (${m.unit}) ${m.better === 'higher' ? '↑' : '↓'}`),
      ],
      ids.map((id) => [
        serverLabel(report, id),
        ...metrics.map((m) => fmt(cell(report, id, m.scenario, m.key).value, m.unit)),
      ]),
    ),
    '',
  );

  if (ids.includes('ws')) {
    out.push('## Ratios to raw ws', '');
    out.push(
      "Each figure divided by raw ws's (RSS: the difference). ↑: above 1× is better; ↓: below 1× is better.",
      '',
    );
    out.push(
      table(
        ['server', ...metrics.map((m) => `${m.label} ${m.better === 'higher' ? '↑' : '↓'}`)],
        ids.map((id) => [
          serverLabel(report, id),
          ...metrics.map((m) =>
            ratioText(
              m,
              cell(report, id, m.scenario, m.key).value,
              cell(report, 'ws', m.scenario, m.key).value,
            ),
          ),
        ]),
      ),
      '',
    );
  }

  const bcasts = ['bcast2k', 'bcast10k', 'bcastz2k', 'bcastz10k'].filter((s) =>
    report.scenarios.some((x) => x.id === s),
  );
  out.push('## Where the time goes', '');
  out.push(
    'Server CPU per unit of work, measured from /proc over the same window (lower is better), ' +
      "the time until the last subscriber had a broadcast, and the load generator's own CPU " +
      "(near 100% means the figure is the generator's limit, not the server's).",
    '',
  );
  const us = (id, scenario, key, d = 2) => {
    const v = cell(report, id, scenario, key).value;
    return v === null ? '–' : v.toFixed(d);
  };
  out.push(
    table(
      [
        'server',
        'echo 64 B µs/msg',
        'echo 16 KiB µs/msg',
        ...bcasts.map((s) => `${s} ms to last (µs CPU/delivery)`),
        'µs CPU/connection',
        'generator CPU, echo 64 B',
      ],
      ids.map((id) => [
        serverLabel(report, id),
        us(id, 'echo64', 'serverUsPerMsg'),
        us(id, 'echo16k', 'serverUsPerMsg'),
        ...bcasts.map((s) => {
          const ms = cell(report, id, s, 'ms').value;
          return ms === null ? '–' : `${ms.toFixed(1)} (${us(id, s, 'serverUsPerDelivery')})`;
        }),
        us(id, 'connrate', 'serverUsPerConn', 1),
        (() => {
          const v = cell(report, id, 'echo64', 'loadgenCpu').value;
          return v === null ? '–' : `${Math.round(v * 100)}%`;
        })(),
      ]),
    ),
    '',
  );

  if (ids.includes('ws')) {
    out.push('## Targets (issues 2, 7 and 14)', '');
    out.push(
      table(
        ['issue', 'target', 'measured (medians)', 'run by run', 'result', 'note'],
        evaluateTargets(report).map((r) => [
          r.issue,
          r.target,
          r.measured,
          r.perRound,
          `**${r.result}**`,
          r.note,
        ]),
      ),
      '',
    );
  }

  const sweep = sweepSection(report);
  if (sweep) out.push(sweep, '');
  const others = otherTargetsSection(report);
  if (others) out.push(others, '');

  const deno = report.servers.filter((s) => s.deno);
  const denoRaw = deno.find((s) => !s.ours);
  const denoOurs = deno.find((s) => s.ours);
  if (denoRaw && denoOurs) {
    out.push('## Deno: @anyws/deno against raw Deno.upgradeWebSocket', '');
    out.push(
      table(
        ['metric', denoRaw.label, denoOurs.label, 'ratio', 'run by run'],
        metrics
          .map((m) => {
            const a = cell(report, denoRaw.id, m.scenario, m.key).value;
            const b = cell(report, denoOurs.id, m.scenario, m.key).value;
            if (a === null && b === null) return null;
            const runsOf = (id) => report.results[id]?.[m.scenario]?.runs ?? [];
            const each = paired(runsOf(denoOurs.id), runsOf(denoRaw.id), m.key)
              .map(([x, y]) => (m.diff ? (x - y).toFixed(2) : (x / y).toFixed(2)))
              .join(' ');
            return [
              `${m.label} (${m.unit})`,
              fmt(a, m.unit),
              fmt(b, m.unit),
              ratioText(m, b, a),
              each,
            ];
          })
          .filter(Boolean)
          .concat(
            // Server CPU per message: steadier than throughput on a shared machine.
            [
              ['echo64', 'echo 64 B'],
              ['echo16k', 'echo 16 KiB'],
            ].flatMap(([scenario, label]) => {
              const m = { key: 'serverUsPerMsg', scenario, diff: false };
              const a = cell(report, denoRaw.id, scenario, m.key).value;
              const b = cell(report, denoOurs.id, scenario, m.key).value;
              if (a === null || b === null) return [];
              const runsOf = (id) => report.results[id]?.[scenario]?.runs ?? [];
              const each = paired(runsOf(denoOurs.id), runsOf(denoRaw.id), m.key)
                .map(([x, y]) => (x / y).toFixed(2))
                .join(' ');
              return [
                [
                  `${label}: server CPU per message (µs) ↓`,
                  a.toFixed(2),
                  b.toFixed(2),
                  `${(b / a).toFixed(2)}×`,
                  each,
                ],
              ];
            }),
          ),
      ),
      '',
    );
  }

  const notes = [];
  for (const [id, reason] of Object.entries(report.skippedServers))
    notes.push(`- ${id} not run: ${reason}`);
  for (const id of ids) {
    const skips = new Map();
    // The size sweep says once, in its own section, which servers it runs.
    for (const s of report.scenarios.filter((x) => x.group !== 'sweep')) {
      const reason = report.results[id]?.[s.id]?.skipped;
      if (reason) skips.set(reason, [...(skips.get(reason) ?? []), s.title]);
    }
    for (const [reason, titles] of skips) {
      notes.push(`- ${serverLabel(report, id)} does not run ${titles.join(', ')}: ${reason}.`);
    }
    for (const m of metrics) {
      const entry = report.results[id]?.[m.scenario];
      const c = cell(report, id, m.scenario, m.key);
      if (c.note && !entry?.skipped && m.key !== 'p50') {
        notes.push(`- ${serverLabel(report, id)}, ${m.label}: ${c.note}`);
      }
    }
    for (const s of bcasts.filter((b) => b.startsWith('bcastz'))) {
      const runs = cell(report, id, s, 'ms').runs ?? [];
      if (runs.some((r) => r.negotiated === false)) {
        notes.push(`- ${serverLabel(report, id)}, ${s}: permessage-deflate was not negotiated`);
      }
      if (runs.some((r) => r.compressedShare !== null && r.compressedShare < 1)) {
        notes.push(`- ${serverLabel(report, id)}, ${s}: not every delivered frame was compressed`);
      }
    }
  }
  if (notes.length > 0) out.push('## Notes', '', ...notes, '');
  out.push(
    'The TCP echo ceiling is not a WebSocket server: it echoes the bytes of each read in one ' +
      'write and relays a broadcast frame it was handed. socket.io is driven by socket.io-client, ' +
      "heavier than the generator's own client. See bench/README.md for what each scenario measures.",
    '',
  );
  return out.join('\n');
}

// ---- size sweep --------------------------------------------------------------------------

function sizeText(size) {
  if (size >= 1 << 20) return `${size / (1 << 20)} MiB`;
  if (size >= 1024) return `${size / 1024} KiB`;
  return `${size} B`;
}

/**
 * A cell of the size sweep against its target: throughput ≥ 1× ws (2× at 64 B) and server CPU
 * per message ≤ 1×, within LEVEL: 'PASS', 'MISS' or '–' (not measured).
 */
function sweepResult(report, s) {
  const ratio = (key) => {
    const a = cell(report, 'anyws', s.id, key).value;
    const b = cell(report, 'ws', s.id, key).value;
    return a === null || !b ? null : a / b;
  };
  const rate = ratio('rate');
  const cpu = ratio('serverUsPerMsg');
  if (rate === null || cpu === null) return '–';
  const floor = s.params.size === 64 ? 2 : 1;
  return rate >= floor * (1 - LEVEL) && cpu <= 1 + LEVEL ? 'PASS' : 'MISS';
}

/**
 * The size sweep of issue 14 as one table: @anyws/node against raw ws for every message size
 * and number in flight, throughput and server CPU per message, each ratio also run by run
 * (paired within a round), and the target: at least 1× the throughput (2× at 64 B) and at
 * most 1× the CPU, so that a regression at one size cannot hide behind another.
 */
function sweepSection(report) {
  const cells = report.scenarios.filter((s) => s.group === 'sweep');
  if (cells.length === 0 || !report.servers.some((s) => s.id === 'anyws')) return null;
  const pairs =
    (key, id = 'anyws') =>
    (s) => {
      const runsOf = (server) => report.results[server]?.[s.id]?.runs ?? [];
      return paired(runsOf(id), runsOf('ws'), key)
        .map(([ours, ws]) => (ours / ws).toFixed(2))
        .join(' ');
    };
  const control = report.servers.some((s) => s.id === 'ws-twin');
  const twinRatio = (s, key) => {
    const a = cell(report, 'ws-twin', s.id, key).value;
    const b = cell(report, 'ws', s.id, key).value;
    return a === null || !b ? '–' : `${(a / b).toFixed(2)}×`;
  };
  const rows = cells.map((s) => {
    const rate = ['ws', 'anyws'].map((id) => cell(report, id, s.id, 'rate').value);
    const cpu = ['ws', 'anyws'].map((id) => cell(report, id, s.id, 'serverUsPerMsg').value);
    const rateRatio = rate[0] && rate[1] !== null ? rate[1] / rate[0] : null;
    const cpuRatio = cpu[0] && cpu[1] !== null ? cpu[1] / cpu[0] : null;
    const met = sweepResult(report, s);
    return [
      sizeText(s.params.size),
      String(s.params.inflight),
      String(s.params.conns),
      fmt(rate[0], 'msg/s'),
      fmt(rate[1], 'msg/s'),
      rateRatio === null ? '–' : `${rateRatio.toFixed(2)}×`,
      pairs('rate')(s),
      cpu[0] === null ? '–' : cpu[0].toFixed(2),
      cpu[1] === null ? '–' : cpu[1].toFixed(2),
      cpuRatio === null ? '–' : `${cpuRatio.toFixed(2)}×`,
      pairs('serverUsPerMsg')(s),
      met,
      ...(control
        ? [
            `${twinRatio(s, 'rate')} (${pairs('rate', 'ws-twin')(s)})`,
            `${twinRatio(s, 'serverUsPerMsg')} (${pairs('serverUsPerMsg', 'ws-twin')(s)})`,
          ]
        : []),
    ];
  });
  return [
    '## Message sizes: @anyws/node against raw ws (issue 14)',
    '',
    'Binary echo, pull-API session (`for await` + `await conn.send`) against `ws.send` in the ' +
      'message listener; connections: as many (up to 64) as keep 16 MiB in flight. Target per ' +
      'cell: throughput ≥ 1× raw ws (≥ 2× at 64 B) and server CPU per message ≤ 1×, within ' +
      `${LEVEL * 100}%. Run by run: @anyws/node over ws in each round.` +
      (control
        ? ' The control is raw ws again in a process of its own, taking turns like the others: ' +
          'its ratios to ws (median, then run by run) are what this method gives for identical ' +
          'code, so a miss by less than the control strays from 1× is within what the sweep can tell.'
        : '') +
      ' What a small message costs beyond ws, measured apart (CPU profile, 1 KiB, 1 in flight, ' +
      "2026-12-06): about 1 µs per message of the pull API (the read's promise settles, a " +
      'microtask resumes the session, `await conn.send` yields once more, the next read arms a ' +
      'new promise) and about 0.2 µs of the deferred, coalescing write, which one message in ' +
      'flight per connection never pays back; ws spends 12–15 µs per such message, most of it in ' +
      'the write system call. From 16 KiB up, profiles of both servers (64 KiB, 1 in flight, ' +
      '2026-12-06) show the same work: unmasking in JavaScript (ws has no native helper here) and ' +
      'the write, with a similar number of collections (59 and 67 scavenges in 3 s); the pull ' +
      "API's hop is about 1 µs of some 190 µs per message. No cause beyond that was found for " +
      'misses of a few percent there: compare them with the control.',
    '',
    table(
      [
        'size',
        'in flight',
        'conns',
        'ws msg/s',
        '@anyws/node msg/s',
        'ratio ↑',
        'run by run',
        'ws µs CPU/msg',
        '@anyws/node µs CPU/msg',
        'ratio ↓',
        'run by run',
        'target',
        ...(control ? ['control ÷ ws: msg/s', 'control ÷ ws: CPU/msg'] : []),
      ],
      rows,
    ),
  ].join('\n');
}

/**
 * Issue 14's targets measured outside this run: the browser bundles (bytes, from the browser
 * package's size script when this report was written) and the Workers bench (its own report).
 */
function otherTargetsSection(report) {
  const browser = report.browser;
  if (!browser) return null;
  const lines = ['## Issue 14 outside this run: browser bundles, Workers', ''];
  if (browser.error) lines.push(`Browser bundles not measured: ${browser.error}.`, '');
  else {
    lines.push(
      `Browser bundles, esbuild (minified, ${browser.target}) and gzip -9, measured by ` +
        '`packages/browser/scripts/size.mjs` when this report was written (bytes, the same on any machine); ' +
        '`pnpm test` fails when one grows past its limit:',
      '',
      table(
        ['bundle', 'gzip (B)', 'target (B)', 'result', 'limit kept by the check (B)'],
        browser.guarded.map((b) => [
          b.name,
          b.gzip.toLocaleString('en-US'),
          b.target.toLocaleString('en-US'),
          b.gzip <= b.target
            ? 'PASS'
            : `MISS (${(b.gzip - b.target).toLocaleString('en-US')} over)`,
          b.limit.toLocaleString('en-US'),
        ]),
      ),
      '',
      'The gap and its cause, module by module: "Size" in packages/browser/README.md (the ' +
        "connection's whole contract is in every client; no server module gets in).",
      '',
    );
  }
  lines.push(
    'Workers (`WebSocketRoom` against a hand-written hibernating Durable Object, ≥ 0.95× each): ' +
      'its own bench and report, `pnpm -F @anyws/bench run bench:workers` → docs/bench/workers.md.',
  );
  return lines.join('\n');
}

// ---- svg ---------------------------------------------------------------------------------

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function colour(server) {
  if (server.ours) return server.id.includes('nocoalesce') ? '#5fb3a9' : '#0f766e';
  if (server.id === 'ws') return '#2563eb';
  if (server.ceiling) return '#cbd5e1';
  if (server.deno) return '#d97706';
  return '#94a3b8';
}

/** One panel per metric, one bar per server, its absolute figure and its ratio to raw ws. */
export function renderSvg(report) {
  const metrics = METRICS.filter((m) => report.scenarios.some((s) => s.id === m.scenario));
  const servers = report.servers.filter((s) => !s.control);
  const bar = 15;
  const gap = 4;
  const panelW = 470;
  const labelW = 170;
  const valueW = 120;
  const panelH = 34 + servers.length * (bar + gap) + 10;
  const cols = 2;
  const top = 70;
  const width = cols * panelW + 30;
  const height = top + Math.ceil(metrics.length / cols) * panelH + 20;
  const parts = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="15" y="24" font-size="16" font-weight="600" fill="#0f172a">anyws benchmark: Node WebSocket servers side by side</text>`,
    `<text x="15" y="44" fill="#475569">${esc(`${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}; ${report.mode} run, median of ${report.rounds} round(s); ratio to raw ws in brackets`)}</text>`,
  );
  metrics.forEach((metric, index) => {
    const x0 = 15 + (index % cols) * panelW;
    const y0 = top + Math.floor(index / cols) * panelH;
    const values = servers.map((s) => cell(report, s.id, metric.scenario, metric.key).value);
    const base = cell(report, 'ws', metric.scenario, metric.key).value;
    // The ceiling can dwarf everything else: the scale stops at the best WebSocket server.
    const scaleValues = values.filter((v, i) => v !== null && !servers[i].ceiling);
    const max = Math.max(
      ...(scaleValues.length ? scaleValues : values.filter((v) => v !== null)),
      1e-9,
    );
    const barMax = panelW - labelW - valueW - 10;
    parts.push(
      `<text x="${x0}" y="${y0 + 16}" font-size="12.5" font-weight="600" fill="#0f172a">${esc(metric.label)}</text>`,
      `<text x="${x0 + panelW - 20}" y="${y0 + 16}" text-anchor="end" fill="#64748b">${esc(`${metric.unit}, ${metric.better} is better`)}</text>`,
    );
    servers.forEach((server, i) => {
      const y = y0 + 28 + i * (bar + gap);
      const v = values[i];
      parts.push(
        `<text x="${x0 + labelW - 6}" y="${y + bar - 4}" text-anchor="end" fill="#334155">${esc(server.label)}</text>`,
      );
      if (v === null) {
        parts.push(`<text x="${x0 + labelW + 2}" y="${y + bar - 4}" fill="#94a3b8">n/a</text>`);
        return;
      }
      const clipped = v > max;
      const w = Math.max(1, (Math.min(v, max) / max) * barMax);
      const fill = colour(server);
      parts.push(
        `<rect x="${x0 + labelW}" y="${y}" width="${w.toFixed(1)}" height="${bar}" rx="2" fill="${fill}"${server.ceiling ? ' stroke="#64748b" stroke-dasharray="3 2"' : ''}/>`,
      );
      const ratio = server.id === 'ws' || base === null ? '' : ` (${ratioText(metric, v, base)})`;
      parts.push(
        `<text x="${x0 + labelW + w + 4}" y="${y + bar - 4}" fill="#0f172a">${esc(`${clipped ? '▶ ' : ''}${fmt(v, metric.unit)}${ratio}`)}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// ---- README ------------------------------------------------------------------------------

/** The markers of the README's generated performance block. */
export const README_START = '<!-- bench:start -->';
export const README_END = '<!-- bench:end -->';

/**
 * The root README's performance figures, generated from the report so that the README claims
 * nothing the report does not show: ratios to raw ws for @anyws/node and the peers, the size
 * sweep, Deno against raw Deno, and every target missed with its figure and the report's note.
 */
export function renderReadmeBlock(report) {
  const has = (id) => report.servers.some((s) => s.id === id);
  const ratio = (id, m) =>
    ratioText(
      m,
      cell(report, id, m.scenario, m.key).value,
      cell(report, 'ws', m.scenario, m.key).value,
    );
  const columns = ['anyws', 'crossws', 'hono', 'socketio'].filter(has);
  const metrics = METRICS.filter(
    (m) => m.id !== 'p50' && report.scenarios.some((s) => s.id === m.scenario),
  );
  const out = [
    '<!-- Generated by `node bench/run.mjs --render` from docs/bench/results.json: edit bench/lib/report.mjs, not this block. -->',
    '',
    `From the committed ${report.mode} run (${report.date.slice(0, 10)}, ${report.rounds} round(s), ` +
      `${Math.round(report.durationSec / 60)} min on ${report.machine.cores} cores; medians, ratios to raw \`ws\` ` +
      `${report.versions.ws} in the same run, RSS as the difference; ↑ higher is better, ↓ lower is better):`,
    '',
  ];
  const rows = [];
  for (const m of metrics) {
    rows.push([
      `${m.label} ${m.better === 'higher' ? '↑' : '↓'}`,
      ...columns.map((id) => ratio(id, m)),
    ]);
    if (m.id === 'echo64' && has('anyws-nocoalesce')) {
      rows.push([
        'echo 64 B, coalescing off ↑',
        ...columns.map((id) => (id === 'anyws' ? ratio('anyws-nocoalesce', m) : '')),
      ]);
    }
  }
  out.push(table(['scenario', ...columns.map((id) => serverLabel(report, id))], rows), '');
  const sweepCells = report.scenarios.filter((s) => s.group === 'sweep');
  if (sweepCells.length > 0 && has('anyws') && has('ws')) {
    const sizes = [...new Set(sweepCells.map((s) => s.params.size))];
    const inflights = [...new Set(sweepCells.map((s) => s.params.inflight))];
    const text = (s) => {
      if (!s) return '–';
      const r = (key) => {
        const a = cell(report, 'anyws', s.id, key).value;
        const b = cell(report, 'ws', s.id, key).value;
        return a === null || !b ? '–' : `${(a / b).toFixed(2)}×`;
      };
      return `${r('rate')} (CPU ${r('serverUsPerMsg')})`;
    };
    out.push(
      '@anyws/node over raw ws by message size (binary echo): throughput ↑, and in brackets ' +
        'server CPU per message ↓:',
      '',
      table(
        ['size', ...inflights.map((n) => `${n} in flight`)],
        sizes.map((size) => [
          sizeText(size),
          ...inflights.map((n) =>
            text(sweepCells.find((s) => s.params.size === size && s.params.inflight === n)),
          ),
        ]),
      ),
      '',
    );
  }
  const denoRaw = report.servers.find((s) => s.deno && !s.ours);
  const denoOurs = report.servers.find((s) => s.deno && s.ours);
  if (denoRaw && denoOurs) {
    const parts = METRICS.filter((m) =>
      ['echo64', 'echo16k', 'p99', 'bcast10k', 'rss'].includes(m.id),
    )
      .map((m) => {
        const r = ratioText(
          m,
          cell(report, denoOurs.id, m.scenario, m.key).value,
          cell(report, denoRaw.id, m.scenario, m.key).value,
        );
        return r === '–' ? null : `${m.label} ${r}`;
      })
      .filter(Boolean);
    for (const [scenario, label] of [
      ['echo64', 'echo 64 B'],
      ['echo16k', 'echo 16 KiB'],
    ]) {
      const a = cell(report, denoRaw.id, scenario, 'serverUsPerMsg').value;
      const b = cell(report, denoOurs.id, scenario, 'serverUsPerMsg').value;
      if (a !== null && b !== null)
        parts.push(`server CPU per message at ${label} ${(b / a).toFixed(2)}×`);
    }
    if (parts.length > 0) {
      out.push(`@anyws/deno against raw \`Deno.upgradeWebSocket\`: ${parts.join(', ')}.`, '');
    }
  }
  if (has('ws')) {
    const missed = evaluateTargets(report).filter((r) => r.result === 'MISS');
    if (missed.length > 0) {
      out.push('Targets missed in this run (the report has every target, PASS or MISS):', '');
      for (const r of missed) {
        const each = r.perRound ? ` (run by run: ${r.perRound})` : '';
        const note = r.note ? `. ${r.note[0].toUpperCase()}${r.note.slice(1)}` : '';
        out.push(`- ${r.issue} ${r.target}: ${r.measured}${each}${note}.`);
      }
      out.push('');
    }
    const sweepMissed = sweepCells.filter((s) => sweepResult(report, s) === 'MISS');
    if (sweepMissed.length > 0) {
      out.push(
        `- #14 message sizes, ≥ 1× ws (≥ 2× at 64 B) with CPU ≤ 1×: missed in ${sweepMissed.length} of ${sweepCells.length} cells (${sweepMissed.map((s) => s.title.replace(/^echo /, '')).join('; ')}).`,
        '',
      );
    }
  }
  out.push(
    'Full tables, each ratio run by run, and what each figure measures: ' +
      '[docs/bench/results.md](docs/bench/results.md), [bench/README.md](bench/README.md).',
  );
  return out.join('\n');
}

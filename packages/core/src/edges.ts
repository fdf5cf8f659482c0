/**
 * The edges: for each role (a standalone server, an upgrade inside a server, the Hono helper,
 * a client), which export of which package plays it on each runtime and the names of its
 * options. Each adapter package has a test that holds its real exports and option types against
 * this list, and core has one that holds the root README's table against it, so that the table,
 * the list and the code cannot disagree. Import it from `@anyws/core/edges`.
 * @packageDocumentation
 */

/** The runtimes anyws has an adapter for, by package (`@anyws/<runtime>`). */
export type Runtime = 'node' | 'deno' | 'workers' | 'browser';

/** The roles of the edges. */
export type Role = 'serve' | 'upgrade' | 'hono' | 'connect' | 'reconnect';

/** One role on one runtime. */
export interface RuntimeEdge {
  /** The package's entry point the export is in: `'.'` or a subpath such as `'./hono'`. */
  readonly module: string;
  /** The export that plays the role. */
  readonly name: string;
  /** The export's options beyond the role's common ones: what only this runtime has. */
  readonly options: readonly string[];
  /** Common options of the role that this runtime does not take. */
  readonly without?: readonly string[];
  /** Other exports that play the same role on this runtime (no options listed). */
  readonly also?: readonly string[];
}

/** One role on every runtime where it exists. */
export interface RoleEdge {
  /** How the call reads, in Markdown (for the README). */
  readonly call: string;
  /** Options every runtime's export takes under these names, units and defaults. */
  readonly options: readonly string[];
  /** The runtimes where the role exists. */
  readonly runtimes: Partial<Record<Runtime, RuntimeEdge>>;
  /** What the role is where it does not exist (for the README). */
  readonly absent: Partial<Record<Runtime, string>>;
}

/** The names of `ConnectionOptions` (core's test holds them against the interface). */
export const CONNECTION_OPTIONS = [
  'protocols',
  'autoping',
  'autoclose',
  'heartbeat',
  'receiveTimeout',
  'closeTimeout',
  'maxMessageSize',
  'compress',
  'highWaterMark',
  'maxBufferedAmount',
  'slowConsumer',
  'receiveHighWaterMark',
] as const;

/**
 * The names of core's `ReconnectingOptions`: what a reconnecting client takes beside its
 * runtime's `connect` options (core's test holds them against the interface).
 */
export const RECONNECTING_OPTIONS = [
  'reconnect',
  'maxQueuedMessages',
  'maxQueuedBytes',
  'checkTimeout',
] as const;

/** Every role on every runtime. Durations are milliseconds everywhere. */
export const EDGES = {
  serve: {
    call: '`serve({ port, hostname, handler, ... })`',
    options: ['port', 'hostname', 'handler', 'topics'],
    runtimes: {
      node: {
        module: '.',
        name: 'serve',
        options: ['path', 'coalesce', 'signal', 'handshakeTimeout', 'maxConnections'],
      },
      deno: {
        module: '.',
        name: 'serve',
        options: ['idleTimeout', 'fetch', 'signal', 'onListen', 'maxConnections'],
      },
    },
    absent: { workers: "the Worker's fetch handler", browser: 'a page cannot listen' },
  },
  upgrade: {
    call: 'upgrade a web `Request` / attach to an HTTP server',
    options: ['topics'],
    runtimes: {
      node: {
        module: '.',
        name: 'attach',
        options: ['path', 'handler', 'coalesce', 'maxConnections'],
      },
      deno: { module: '.', name: 'upgrade', options: ['idleTimeout', 'maxConnections'] },
      workers: { module: '.', name: 'upgrade', options: ['ctx'], also: ['WebSocketRoom'] },
    },
    absent: { browser: 'a page cannot listen' },
  },
  hono: {
    call: 'Hono `upgradeWebSocket(handler, options?)`',
    options: ['topics'],
    runtimes: {
      node: {
        module: './hono',
        name: 'upgradeWebSocket',
        options: ['coalesce', 'maxConnections'],
      },
      deno: {
        module: './hono',
        name: 'upgradeWebSocket',
        options: ['idleTimeout', 'maxConnections'],
      },
      workers: { module: './hono', name: 'upgradeWebSocket', options: ['ctx'] },
    },
    absent: { browser: 'a page cannot listen' },
  },
  connect: {
    call: '`connect(url, { protocols, headers, openTimeout, signal, ...connection options })`',
    options: ['headers', 'openTimeout', 'signal', ...CONNECTION_OPTIONS],
    runtimes: {
      node: { module: '.', name: 'connect', options: ['coalesce'] },
      deno: { module: '.', name: 'connect', options: ['offerHeartbeat'] },
      workers: { module: '.', name: 'connect', options: ['offerHeartbeat'] },
      browser: {
        module: '.',
        name: 'connect',
        options: ['offerHeartbeat'],
        without: ['headers'],
      },
    },
    absent: {},
  },
  reconnect: {
    call: '`new ReconnectingClient(url, { reconnect, maxQueuedMessages, maxQueuedBytes, checkTimeout, ...connect options })`',
    options: ['headers', 'openTimeout', 'signal', ...CONNECTION_OPTIONS, ...RECONNECTING_OPTIONS],
    runtimes: {
      node: { module: '.', name: 'ReconnectingClient', options: ['coalesce'] },
      deno: { module: '.', name: 'ReconnectingClient', options: ['offerHeartbeat'] },
      workers: { module: '.', name: 'ReconnectingClient', options: ['offerHeartbeat'] },
      browser: {
        module: '.',
        name: 'ReconnectingClient',
        options: ['offerHeartbeat'],
        without: ['headers'],
      },
    },
    absent: {},
  },
} as const satisfies Record<Role, RoleEdge>;

type Edges = typeof EDGES;
/** The runtimes where `role` exists. */
export type RuntimeOf<R extends Role> = keyof Edges[R]['runtimes'] & Runtime;
type At<R extends Role, T extends RuntimeOf<R>> = Edges[R]['runtimes'][T];
type Listed<X, K extends string> = X extends { readonly [key in K]: readonly (infer N)[] }
  ? N
  : never;

/**
 * The option names `role`'s export takes on `runtime`, as a union of string literals: a
 * package's test checks `keyof` its options type against it.
 */
export type EdgeOptionName<R extends Role, T extends RuntimeOf<R>> =
  | Exclude<Edges[R]['options'][number], Listed<At<R, T>, 'without'>>
  | Listed<At<R, T>, 'options'>;

/**
 * `'same'` when the option names `Actual` (a `keyof` of an options type) are exactly `Listed`;
 * otherwise what differs, so that a failed check names the options:
 * `const ok: OptionsMatch<keyof ServeOptions, EdgeOptionName<'serve', 'node'>> = 'same';`
 */
export type OptionsMatch<Actual, Listed> = [Exclude<Actual, Listed>] extends [never]
  ? [Exclude<Listed, Actual>] extends [never]
    ? 'same'
    : { notInTheType: Exclude<Listed, Actual> }
  : { notInTheList: Exclude<Actual, Listed> };

/** The list's entry for `role` on `runtime`, or undefined where the role does not exist there. */
export function edgeOf(role: Role, runtime: Runtime): RuntimeEdge | undefined {
  return (EDGES[role].runtimes as Partial<Record<Runtime, RuntimeEdge>>)[runtime];
}

/** The option names `role`'s export takes on `runtime` (the common ones it takes, then its own). */
export function edgeOptions(role: Role, runtime: Runtime): string[] {
  const edge = edgeOf(role, runtime);
  if (!edge) return [];
  const without = new Set(edge.without ?? []);
  return [...EDGES[role].options.filter((name) => !without.has(name)), ...edge.options];
}

const RUNTIMES: readonly Runtime[] = ['node', 'deno', 'workers', 'browser'];

/**
 * The README's table of roles per runtime, rendered from {@link EDGES}: one row per role, one
 * column per runtime (the export, `—` and why where the role does not exist), then the options.
 */
export function edgesTable(): string {
  const code = (name: string): string => `\`${name}\``;
  const lines = [
    `| role | ${RUNTIMES.map((runtime) => `@anyws/${runtime}`).join(' | ')} |`,
    `|---|${RUNTIMES.map(() => '---').join('|')}|`,
  ];
  for (const role of Object.keys(EDGES) as Role[]) {
    const entry: RoleEdge = EDGES[role];
    const cells = RUNTIMES.map((runtime) => {
      const edge = edgeOf(role, runtime);
      if (!edge) return `— (${entry.absent[runtime] ?? 'none'})`;
      const names = [edge.name, ...(edge.also ?? [])].map(code).join(', ');
      const from =
        edge.module === '.' ? '' : ` from ${code(`@anyws/${runtime}${edge.module.slice(1)}`)}`;
      const own = edge.options.length > 0 ? `; also ${edge.options.map(code).join(', ')}` : '';
      const without = edge.without ? `; no ${edge.without.map(code).join(', ')}` : '';
      return `${names}${from}${own}${without}`;
    });
    lines.push(`| ${entry.call} | ${cells.join(' | ')} |`);
  }
  const connection = new Set<string>(CONNECTION_OPTIONS);
  const common = (Object.keys(EDGES) as Role[]).map((role) => {
    const names = EDGES[role].options.filter((name) => !connection.has(name)).map(code);
    if (EDGES[role].options.some((name) => connection.has(name)))
      names.push('every `ConnectionOptions` field');
    return `- ${code(role)}: ${names.join(', ')}`;
  });
  return [
    ...lines,
    '',
    'Options every runtime takes under the same names, units (ms) and defaults, by role:',
    '',
    ...common,
  ].join('\n');
}

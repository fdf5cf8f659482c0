/**
 * The parts of the `Deno` global this package uses, typed here so that the package builds
 * with plain tsc (no Deno type library) and type-checks unchanged inside Deno.
 */

/** `Deno.UpgradeWebSocketOptions`, the fields used here. */
export interface DenoUpgradeOptions {
  protocol?: string;
  idleTimeout?: number;
}

/** `Deno.NetAddr`. */
export interface DenoNetAddr {
  transport: string;
  hostname: string;
  port: number;
}

/** `Deno.ServeTcpOptions`, the fields used here. */
export interface DenoServeOptions {
  port?: number;
  hostname?: string;
  signal?: AbortSignal;
  onListen?: (addr: DenoNetAddr) => void;
}

/** `Deno.HttpServer`, the fields used here. */
export interface DenoHttpServer {
  readonly addr: DenoNetAddr;
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}

interface DenoGlobal {
  upgradeWebSocket(
    request: Request,
    options?: DenoUpgradeOptions,
  ): { socket: WebSocket; response: Response };
  serve(
    options: DenoServeOptions,
    handler: (request: Request) => Response | Promise<Response>,
  ): DenoHttpServer;
  unrefTimer?(id: number): void;
}

/** The `Deno` global; a clear error outside Deno rather than a TypeError deep inside. */
export function denoRuntime(): DenoGlobal {
  const deno = (globalThis as { Deno?: DenoGlobal }).Deno;
  if (deno === undefined || typeof deno.upgradeWebSocket !== 'function') {
    throw new Error('@anyws/deno needs the Deno runtime (Deno.upgradeWebSocket was not found)');
  }
  return deno;
}

/**
 * A timer that does not keep the process alive by itself (Deno's `unrefTimer`): the sockets
 * it watches do that while they are open.
 */
export function unrefTimeout(callback: () => void, delay: number): ReturnType<typeof setTimeout> {
  const timer: unknown = setTimeout(callback, delay);
  // Deno 2.9's setTimeout returns a Node-style Timeout; earlier ones a number.
  if (
    typeof timer === 'object' &&
    timer !== null &&
    'unref' in timer &&
    typeof timer.unref === 'function'
  ) {
    timer.unref();
  } else if (typeof timer === 'number') {
    (globalThis as { Deno?: DenoGlobal }).Deno?.unrefTimer?.(timer);
  }
  return timer as ReturnType<typeof setTimeout>;
}

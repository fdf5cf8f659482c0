/** What the two process entry points (Node, Deno) share: settings from the environment and the app. */
import type { WebSocketHandler } from '@anyws/core';
import { MemoryHistory } from '@anyws/core/channels';
import type { Hono, MiddlewareHandler } from 'hono';
import { createApp, type RuntimeName } from './app.js';
import { isLoopback, resolveSecret, secretNotice, verifyToken } from './auth.js';
import { createChatHandler } from './chat.js';
import { type Cluster, historyLength } from './cluster.js';
import { echoHandler } from './echo.js';
import { LiveConnections } from './live.js';

/** A runtime's way to serve a WebSocket handler on a Hono route. */
export type ServeWebSocket = <C>(handler: WebSocketHandler<C>) => MiddlewareHandler;

/** The app of one process, and what its entry point prints and listens on. */
export interface ProcessDemo {
  app: Hono;
  /** Its open WebSocket connections, to close with 1001 on shutdown. */
  live: LiveConnections;
  hostname: string;
  port: number;
  /** The line about the JWT secret to print at start. */
  notice: string;
}

/** A setting the demo cannot start with; the entry point prints its message and exits. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Runs `build`; a {@link StartupError} is printed as one line and ends the process with status 1. */
export function orExit<T>(build: () => T, exit: (code: number) => never): T {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    console.error(`anyws demo cannot start: ${error.message}`);
    return exit(1);
  }
}

/**
 * Reads HOST, PORT (default 8787; 0 picks a free one), JWT_SECRET and HISTORY_LENGTH, and builds the app. Without
 * JWT_SECRET it starts only on a loopback HOST (a development run): a StartupError otherwise.
 */
export function createProcessDemo(
  runtime: Exclude<RuntimeName, 'workers'>,
  env: (name: string) => string | undefined,
  serveWebSocket: ServeWebSocket,
  /** With `REDIS_URL`: topics and presence across processes (`pnpm demo:cluster`). */
  cluster?: Cluster,
): ProcessDemo {
  const hostname = env('HOST') || '127.0.0.1';
  const port = Number(env('PORT') || 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new StartupError(
      `PORT must be a port number (0 to 65535), got ${JSON.stringify(env('PORT'))}`,
    );
  }
  const choice = resolveSecret(env('JWT_SECRET'), isLoopback(hostname));
  if (!choice.ok) throw new StartupError(`${choice.message} (HOST is ${hostname})`);
  const { secret, isDefault } = choice;
  let maxLength: number;
  try {
    maxLength = historyLength(env);
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
  const live = new LiveConnections();
  const chat = createChatHandler({
    verifyToken: (token) => verifyToken(secret, token),
    roster: cluster?.roster,
    // One process: rooms' messages in its memory (a restart starts new epochs). A cluster:
    // Redis streams, and publications through Redis to every process.
    history: cluster?.history ?? new MemoryHistory({ maxLength }),
    bus: cluster?.topics,
  });
  const app = createApp({
    runtime,
    secret,
    echo: serveWebSocket(live.track(echoHandler)),
    chat: serveWebSocket(live.track(chat)),
  });
  return { app, live, hostname, port, notice: secretNotice(isDefault) };
}

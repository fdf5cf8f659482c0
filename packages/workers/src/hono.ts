/**
 * anyws for Hono on Cloudflare Workers: a plain Worker upgrade, or a route to a room.
 *
 * ```ts
 * app.get('/ws/echo', upgradeWebSocket(echoHandler));
 * app.get('/ws/chat/:room', upgradeWebSocket({
 *   namespace: (c) => c.env.ROOMS,
 *   room: (c) => c.req.param('room'),
 * }));
 * ```
 * @packageDocumentation
 */
import type { WebSocketHandler } from '@anyws/core';

/** A handler, or a function that picks one per request (undefined: 404). */
export type HandlerSource<C = unknown> =
  | WebSocketHandler<C>
  | ((request: Request) => WebSocketHandler<C> | undefined);

import type { Context, Env, MiddlewareHandler } from 'hono';
import { type RoomNamespace, routeToRoom } from './router.js';
import { type UpgradeOptions, upgrade, type WaitUntil } from './upgrade.js';

/** Where {@link upgradeWebSocket} sends an upgrade: a room found by name. */
export interface RoomRoute<E extends Env> {
  /** The Durable Object namespace binding of the room class. */
  namespace(c: Context<E>): RoomNamespace;
  /** The room's name; `null`/`undefined` answers 404. */
  room(c: Context<E>): string | null | undefined;
}

function isRoomRoute<E extends Env>(value: unknown): value is RoomRoute<E> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RoomRoute<E>).namespace === 'function'
  );
}

function executionContext(c: Context): WaitUntil | undefined {
  try {
    return c.executionCtx;
  } catch {
    // Hono throws when the runtime gave it none.
    return undefined;
  }
}

/**
 * A Hono handler for WebSocket upgrades. With a handler (or a function choosing one per
 * request; undefined answers 404): served in this Worker, as {@link upgrade} does (no hibernation). With a {@link RoomRoute}: forwarded to that room (a
 * `WebSocketRoom`), whose handler serves it on the Hibernation API. A request without
 * `Upgrade: websocket` goes on to the next handler, so one route can also answer plain HTTP.
 */
export function upgradeWebSocket<C = unknown, E extends Env = Env>(
  handler: HandlerSource<C>,
  options?: UpgradeOptions,
): MiddlewareHandler<E>;
export function upgradeWebSocket<E extends Env = Env>(route: RoomRoute<E>): MiddlewareHandler<E>;
export function upgradeWebSocket<C, E extends Env>(
  target: HandlerSource<C> | RoomRoute<E>,
  options?: UpgradeOptions,
): MiddlewareHandler<E> {
  return async (c, next) => {
    const request = c.req.raw;
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      await next();
      return undefined;
    }
    if (isRoomRoute<E>(target)) {
      const name = target.room(c);
      if (name === null || name === undefined || name === '') return c.text('no such room', 404);
      return routeToRoom(request, target.namespace(c), name);
    }
    const handler = typeof target === 'function' ? target(request) : target;
    if (!handler) return c.text('not found', 404);
    const ctx = options?.ctx ?? executionContext(c);
    return upgrade(request, handler, ctx ? { ...options, ctx } : options);
  };
}

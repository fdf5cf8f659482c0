/**
 * anyws for Hono on Deno: `app.get('/ws', upgradeWebSocket(handler))`.
 * @packageDocumentation
 */
import { type HandlerSource, type UpgradeOptions, upgrade } from './server.ts';

/** What the helper needs of Hono's `Context`: the web `Request`. */
export interface HonoContextLike {
  req: { raw: Request };
}

/** A Hono middleware, typed structurally so this module needs no import from `hono`. */
export type HonoWebSocketMiddleware = (
  c: HonoContextLike,
  next: () => Promise<void>,
) => Promise<Response | undefined>;

/**
 * A Hono handler that serves WebSocket upgrades with `handler` (or a function choosing one
 * per request; undefined answers 404), through {@link upgrade} (same pipeline, refusals,
 * topics and `maxConnections`). A request without `Upgrade: websocket` goes on to the next
 * handler, as with Hono's own helper, so one route can also answer plain HTTP.
 *
 * ```ts
 * const app = new Hono();
 * app.get('/ws/echo', upgradeWebSocket({ message: (conn, msg) => conn.send(msg.data) }));
 * Deno.serve(app.fetch);
 * ```
 */
export function upgradeWebSocket<C = unknown>(
  source: HandlerSource<C>,
  options?: UpgradeOptions,
): HonoWebSocketMiddleware {
  return async (c, next) => {
    const request = c.req.raw;
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      await next();
      return undefined;
    }
    const handler = typeof source === 'function' ? source(request) : source;
    if (!handler) return new Response('not found', { status: 404 });
    return upgrade(request, handler, options);
  };
}

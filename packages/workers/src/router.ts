/** From a Worker's `fetch` to a room: a Durable Object found by name. */
import { checkHandshake } from '@anyws/core';

/** The part of a Durable Object namespace binding the router uses. */
export interface RoomNamespace {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): { fetch(request: Request): Promise<Response> };
}

/**
 * Forwards a WebSocket upgrade to the room `name` of `namespace` (`idFromName`: one object per
 * name, worldwide). A request that is not a valid upgrade is refused here (core's
 * `checkHandshake`, the first step of the pipeline the room runs), without waking (and
 * billing) the object.
 *
 * ```ts
 * export default {
 *   fetch: (request, env) => routeToRoom(request, env.ROOMS, 'lobby'),
 * };
 * ```
 */
export async function routeToRoom(
  request: Request,
  namespace: RoomNamespace,
  name: string,
): Promise<Response> {
  const refusal = checkHandshake(request);
  if (refusal) return refusal;
  return namespace.get(namespace.idFromName(name)).fetch(request);
}

/** Options of {@link roomRouter}. */
export interface RoomRouterOptions<Env> {
  /** The Durable Object namespace binding of the room class. */
  namespace(env: Env): RoomNamespace;
  /** The room a request goes to; `null`/`undefined` answers 404. */
  room(request: Request, env: Env): string | null | undefined;
}

/**
 * A Worker `fetch` handler that sends each upgrade to its room.
 *
 * ```ts
 * export default {
 *   fetch: roomRouter<Env>({
 *     namespace: (env) => env.ROOMS,
 *     room: (request) => new URL(request.url).pathname.match(/^\/rooms\/([^/]+)$/)?.[1],
 *   }),
 * };
 * ```
 */
export function roomRouter<Env>(
  options: RoomRouterOptions<Env>,
): (request: Request, env: Env) => Promise<Response> {
  return async (request, env) => {
    const name = options.room(request, env);
    if (name === null || name === undefined || name === '') {
      return new Response('no such room', { status: 404 });
    }
    return routeToRoom(request, options.namespace(env), name);
  };
}

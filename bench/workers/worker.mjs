// The Worker of `pnpm bench:workers`, bundled from source and run in workerd (Miniflare).
// The same two rooms twice: with @anyws/workers `WebSocketRoom` and a hooks handler as its
// README writes them, and as hand-written Durable Objects on the raw Hibernation API, each as
// lean as it can be (one class per job, so no per-message dispatch). Paths:
// /<impl>-<job>/<room>/<role>: impl `anyws` or `raw`; job `echo` (every message back to its
// sender) or `bcast`, where role `sub` subscribes to the room's one topic and every message
// sent on another role goes to all subscribers.
import { DurableObject } from 'cloudflare:workers';
import { WebSocketRoom } from '../../packages/workers/src/index.ts';
import { BINDINGS } from './bindings.mjs';

const TOPIC = 'bench';

export class AnywsEcho extends WebSocketRoom {
  handler = { message: (conn, msg) => conn.send(msg.data) };
}

export class AnywsBcast extends WebSocketRoom {
  handler = {
    // Subscribed in open: the topic becomes the socket's tag.
    open: (conn) => {
      if (conn.url.endsWith('/sub')) conn.subscribe(TOPIC);
    },
    message: (conn, msg) => {
      conn.publish(TOPIC, msg.data);
    },
  };
}

function accept(ctx, tags) {
  const pair = new WebSocketPair();
  ctx.acceptWebSocket(pair[1], tags);
  return new Response(null, { status: 101, webSocket: pair[0] });
}

/** The close handshake, as the Hibernation API leaves it to the object. */
function answerClose(ws, code) {
  try {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, '');
  } catch {
    // Already closed.
  }
}

export class RawEcho extends DurableObject {
  fetch() {
    return accept(this.ctx, []);
  }

  webSocketMessage(ws, message) {
    ws.send(message);
  }

  webSocketClose(ws, code) {
    answerClose(ws, code);
  }
}

export class RawBcast extends DurableObject {
  fetch(request) {
    return accept(this.ctx, new URL(request.url).pathname.endsWith('/sub') ? [TOPIC] : []);
  }

  webSocketMessage(_ws, message) {
    for (const sub of this.ctx.getWebSockets(TOPIC)) {
      try {
        sub.send(message);
      } catch {
        // Closing: its webSocketClose follows.
      }
    }
  }

  webSocketClose(ws, code) {
    answerClose(ws, code);
  }
}

export default {
  fetch(request, env) {
    const [, binding, room] = new URL(request.url).pathname.split('/');
    const namespace = BINDINGS[binding] ? env[BINDINGS[binding]] : undefined;
    if (!namespace || !room) return new Response('not found', { status: 404 });
    if (request.headers.get('Upgrade') !== 'websocket')
      return new Response('expected a WebSocket upgrade', { status: 426 });
    return namespace.get(namespace.idFromName(room)).fetch(request);
  },
};

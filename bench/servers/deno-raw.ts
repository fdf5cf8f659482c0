// Raw Deno: `Deno.serve` + `Deno.upgradeWebSocket`, the reference @anyws/deno is measured
// against. Same protocol as servers/_common.mjs: any path echoes each message back unchanged;
// `/sub` subscribes to the one topic; each message on `/pub` goes to every subscriber (the
// plain loop a Deno user writes). Run: deno run -A bench/servers/deno-raw.ts (PORT to choose).
const port = Number(Deno.env.get('PORT') ?? 0);
const subscribers = new Set<WebSocket>();

Deno.serve(
  {
    hostname: '127.0.0.1',
    port,
    onListen: (addr) => console.log(`ready ${String(addr.port)}`),
  },
  (request) => {
    // Deno's default idleTimeout (30 s) stays, as `upgradeWebSocket(request)` gives it: it
    // re-arms a timer on every message, about 0.3-0.5 us of raw Deno's 7-8 us CPU per 64 B echo
    // (measured against `idleTimeout: 0`; nothing measurable at 16 KiB). @anyws/deno passes 0
    // unless its `idleTimeout` option is set, so it does not pay that.
    const { socket, response } = Deno.upgradeWebSocket(request);
    const path = new URL(request.url).pathname;
    if (path === '/sub') {
      socket.onopen = () => subscribers.add(socket);
      socket.onclose = () => subscribers.delete(socket);
    } else if (path === '/pub') {
      socket.onmessage = (event) => {
        for (const subscriber of subscribers) subscriber.send(event.data);
      };
    } else {
      socket.onmessage = (event) => socket.send(event.data);
    }
    return response;
  },
);

Deno.addSignalListener('SIGTERM', () => Deno.exit(0));

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

// crossws through its Node adapter (on its bundled ws), with its own pub/sub.
import { createServer } from 'node:http';
import crossws from 'crossws/adapters/node';
import { compress, HOST, port, ready } from './_common.mjs';

// The path is read once per connection and kept in the peer's context.
const pathOf = (peer) => new URL(peer.request.url).pathname;

const ws = crossws({
  serverOptions: { perMessageDeflate: compress ? { threshold: 0 } : false },
  hooks: {
    open(peer) {
      const path = pathOf(peer);
      peer.context.path = path;
      if (path === '/sub') peer.subscribe('bench');
    },
    message(peer, message) {
      if (peer.context.path === '/pub') ws.publish('bench', message.rawData);
      else peer.send(message.rawData);
    },
  },
});

const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', ws.handleUpgrade);
server.listen(port, HOST, () => ready(server.address().port));

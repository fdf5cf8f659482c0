// crossws through its Node adapter (on its bundled ws), with its own pub/sub.
import { createServer } from 'node:http';
import crossws from 'crossws/adapters/node';
import { compress, HOST, port, ready } from './_common.mjs';

const pathOf = (peer) => new URL(peer.request.url).pathname;

const ws = crossws({
  serverOptions: { perMessageDeflate: compress ? { threshold: 0 } : false },
  hooks: {
    open(peer) {
      if (pathOf(peer) === '/sub') peer.subscribe('bench');
    },
    message(peer, message) {
      if (pathOf(peer) === '/pub') ws.publish('bench', message.rawData);
      else peer.send(message.rawData);
    },
  },
});

const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', ws.handleUpgrade);
server.listen(port, HOST, () => ready(server.address().port));

// Raw `ws`: the reference every ratio is taken against. Broadcast is the plain loop a ws
// user writes: `send` on every subscriber (each frames and writes on its own).
import { WebSocketServer } from 'ws';
import { compress, HOST, port, ready } from './_common.mjs';

const wss = new WebSocketServer({
  host: HOST,
  port,
  perMessageDeflate: compress ? { threshold: 0 } : false,
});
const subscribers = new Set();

wss.on('connection', (ws, request) => {
  if (request.url === '/sub') {
    subscribers.add(ws);
    ws.on('close', () => subscribers.delete(ws));
  } else if (request.url === '/pub') {
    ws.on('message', (data, isBinary) => {
      for (const sub of subscribers) sub.send(data, { binary: isBinary });
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
});
wss.on('listening', () => ready(wss.address().port));

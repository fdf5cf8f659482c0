// socket.io, websocket transport only; the load generator uses socket.io-client for it.
// The role comes in the handshake query: echo, sub (joins a room) or pub.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { compress, HOST, port, ready } from './_common.mjs';

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: compress ? { threshold: 0 } : false,
});

io.on('connection', (socket) => {
  const role = socket.handshake.query.role;
  if (role === 'sub') socket.join('bench');
  else if (role === 'pub') socket.on('pub', (data) => io.to('bench').emit('b', data));
  else socket.on('echo', (data) => socket.emit('echo', data));
});
httpServer.listen(port, HOST, () => ready(httpServer.address().port));

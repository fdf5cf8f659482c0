// socket.io 4.8 with @socket.io/redis-adapter 8.3 on node-redis (REDIS_URL): the socket.io side
// of the cross-process broadcast (cluster.mjs). Roles as in socketio.mjs.
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { HOST, port, ready } from './_common.mjs';

const pubClient = createClient({ url: process.env.REDIS_URL });
const subClient = pubClient.duplicate();
pubClient.on('error', () => undefined);
subClient.on('error', () => undefined);
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  adapter: createAdapter(pubClient, subClient),
});
io.on('connection', (socket) => {
  const role = socket.handshake.query.role;
  if (role === 'sub') socket.join('bench');
  else if (role === 'pub') socket.on('pub', (data) => io.to('bench').emit('b', data));
  else socket.on('echo', (data) => socket.emit('echo', data));
});
httpServer.listen(port, HOST, () => ready(httpServer.address().port));

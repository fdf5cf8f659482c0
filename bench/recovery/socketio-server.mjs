// The socket.io side of the recovery bench: socket.io 4.8 with connection state recovery and
// @socket.io/redis-streams-adapter 0.3 (one stream for every room) on node-redis, on REDIS_URL.
// Forked by recovery.mjs; commands over IPC (common.mjs).
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { ownRoom, payload, publishMissed, serveCommands } from './common.mjs';

const redis = createClient({ url: process.env.REDIS_URL });
redis.on('error', () => undefined);
await redis.connect();

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  // The default maxLen (10,000 entries, for all rooms together) would trim the stream past a
  // client's offset under the 100× background, and nothing would be recovered at all: the
  // bench gives it room for the whole run (SIO_MAXLEN, from --sio-maxlen) so that the cost of
  // a recovery is what is measured.
  adapter: createAdapter(redis, { maxLen: Number(process.env.SIO_MAXLEN ?? 1_000_000) }),
  connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true },
});
io.on('connection', (socket) => {
  // A recovered socket is back in its rooms already.
  if (!socket.recovered) socket.join(String(socket.handshake.query.room));
});
await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));

// Every XADD was sent on `redis` before this PING: once it is answered, they are in the stream.
const flush = () => redis.ping();
serveCommands({
  connected: () => io.engine.clientsCount,
  live: async ({ clients, seq }) => {
    for (let i = 0; i < clients; i++) io.to(ownRoom(i)).emit('m', payload(ownRoom(i), seq));
    await flush();
  },
  missed: (plan) => publishMissed(plan, (room, d) => void io.to(room).emit('m', d), flush),
});
process.send({ ready: httpServer.address().port });

// The ceiling: plain TCP, no WebSocket at all. It echoes every read in one write, so the
// load generator's masked frames come back as they were sent, replies of one read in one
// write call. A connection that starts with "BCAST\n" is a publisher: whatever it sends
// next (a finished frame) is written as-is to every other connection. Nothing is parsed,
// framed, masked or validated here: it measures Node's socket I/O, not a WebSocket server.
import net from 'node:net';
import { HOST, port, ready } from './_common.mjs';

const MARKER = 'BCAST\n';
const connections = new Set();

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  connections.add(socket);
  socket.on('close', () => connections.delete(socket));
  socket.on('error', () => {});
  const relay = (chunk) => {
    for (const other of connections) if (other !== socket) other.write(chunk);
  };
  const echo = (chunk) => socket.write(chunk);
  socket.once('data', (chunk) => {
    if (chunk.toString('latin1', 0, MARKER.length) === MARKER) {
      socket.on('data', relay);
      if (chunk.length > MARKER.length) relay(chunk.subarray(MARKER.length));
    } else {
      socket.on('data', echo);
      echo(chunk);
    }
  });
});
server.listen(port, HOST, () => ready(server.address().port));

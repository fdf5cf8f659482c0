// Shared by the recovery bench's runner and its two server processes (recovery.mjs): the
// message, the names of rooms/channels, the publishing plan, the IPC loop.

/** The client `i`'s own channel (anyws) or room (socket.io). */
export const ownRoom = (i) => `c${i}`;
/** Background channel/room `j`: nobody in this run is in one. */
export const backgroundRoom = (j) => `bg${j}`;
/** Background traffic is spread over this many channels/rooms. */
export const BACKGROUND_ROOMS = 100;

const TEXT = 'x'.repeat(64);
/** The data of one publication: where it went and its sequence number there. */
export const payload = (room, seq) => ({ room, seq, text: TEXT });

/** In flight at once while publishing: enough to keep Redis busy, bounded. */
const BATCH = 500;

/**
 * Publishes what the clients will miss: `missed` messages on each client's own room, and
 * `ratio` × that on the background rooms, interleaved (a background message after each own one,
 * in the given proportion), as traffic is in a real app. `publish(room, data)` issues one
 * publication at once (in order) and may return a promise; `flush()` resolves once every
 * publication issued so far is in Redis.
 */
export async function publishMissed({ clients, missed, ratio }, publish, flush) {
  let pending = [];
  let background = 0;
  let owed = 0;
  const issue = async (room, data) => {
    pending.push(publish(room, data));
    if (pending.length >= BATCH) {
      await Promise.all(pending);
      pending = [];
      await flush();
    }
  };
  for (let seq = 1; seq <= missed; seq++) {
    for (let i = 0; i < clients; i++) {
      await issue(ownRoom(i), payload(ownRoom(i), seq));
      owed += ratio;
      for (; owed >= 1; owed--) {
        const room = backgroundRoom(background % BACKGROUND_ROOMS);
        await issue(room, payload(room, ++background));
      }
    }
  }
  await Promise.all(pending);
  await flush();
  return { own: clients * missed, background };
}

/**
 * Serves the runner's commands over IPC: `{ id, cmd, ...args }` → `{ id, ok, value | error }`.
 * `handlers[cmd](args)` may be async.
 */
export function serveCommands(handlers) {
  // This process's own CPU time (µs resolution, unlike /proc's 10 ms ticks): a recovery of a
  // few hundred messages takes a few ticks at most.
  handlers.cpu = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  process.on('message', async (message) => {
    const { id, cmd } = message;
    try {
      const value = await handlers[cmd](message);
      process.send({ id, ok: true, value });
    } catch (error) {
      process.send({ id, ok: false, error: String(error?.stack ?? error) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

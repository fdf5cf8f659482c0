/**
 * The demo as a cluster (`pnpm demo:cluster`): with `REDIS_URL` set, a Node or Deno process
 * publishes through Redis (@anyws/redis), keeps rooms' messages in Redis streams (so a page that
 * reconnects to any process, or to one that restarted, recovers what it missed) and shows the
 * room's presence across processes.
 */
import { RedisHistory, RedisTopics } from '@anyws/redis';
import { type ChatConnection, type Roster, roomTopic } from './chat.js';
import type { ChatUser } from './protocol.js';

/** What a clustered process uses instead of its in-process topics and roster. */
export interface Cluster {
  topics: RedisTopics;
  history: RedisHistory;
  roster: Roster;
  /** Closes both Redis clients. */
  close(): Promise<void>;
}

/** The room's members from the bus's presence: joining and leaving follow the subscription. */
class PresenceRoster implements Roster {
  constructor(private readonly topics: RedisTopics) {}
  add(): void {}
  remove(): void {}
  async members(room: string): Promise<ChatUser[]> {
    const members = await this.topics.members<ChatUser | null>(roomTopic(room));
    return members.flatMap((m) => (m.data ? [m.data] : []));
  }
}

/** Connects to `REDIS_URL` when it is set; undefined (one process on its own) otherwise. */
export async function connectCluster(
  env: (name: string) => string | undefined,
): Promise<Cluster | undefined> {
  const url = env('REDIS_URL');
  if (!url) return undefined;
  const topics = await RedisTopics.connect({
    url,
    // Presence shows the chat user of a connection (the echo route never subscribes).
    presenceData: (conn) => (conn as ChatConnection).context?.user ?? null,
  });
  const history = await RedisHistory.connect({ url, maxLength: historyLength(env) }).catch(
    async (error: unknown) => {
      await topics.close();
      throw error;
    },
  );
  return {
    topics,
    history,
    roster: new PresenceRoster(topics),
    close: async () => {
      await Promise.all([topics.close(), history.close()]);
    },
  };
}

/**
 * `HISTORY_LENGTH`: how many messages per room a page can recover (default 1,000). A page that
 * missed more is told `recovered: false` and loads the room's recent messages instead.
 */
export function historyLength(env: (name: string) => string | undefined): number {
  const value = Number(env('HISTORY_LENGTH') || 1000);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`HISTORY_LENGTH must be an integer >= 1, got ${env('HISTORY_LENGTH')}`);
  return value;
}

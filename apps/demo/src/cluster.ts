/**
 * The demo as a cluster (`pnpm demo:cluster`): with `REDIS_URL` set, a Node or Deno process
 * publishes through Redis (@anyws/redis) and shows the room's presence across processes.
 */
import { RedisTopics } from '@anyws/redis';
import { type ChatConnection, type Roster, roomTopic } from './chat.js';
import type { ChatUser } from './protocol.js';

/** What a clustered process uses instead of its in-process topics and roster. */
export interface Cluster {
  topics: RedisTopics;
  roster: Roster;
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
  return { topics, roster: new PresenceRoster(topics) };
}

/**
 * The Lua the bus runs in Redis. Each runs atomically, so a count or a member list is read in
 * the same instant as the publish it answers for.
 *
 * Keys of a topic: `<prefix>:m:<topic>` (hash: connection id → `<process id>\n<data JSON>`) and
 * `<prefix>:n:<topic>` (hash: process id → its number of subscribers). A process is alive while
 * its key `<prefix>:alive:<process id>` exists (refreshed by its heartbeat, with a TTL).
 * Keys are built inside the scripts from the alive prefix, so Redis Cluster is not supported.
 */

/** `isAlive(p)`: whether process `p`'s key exists, asked once per script run. */
const ALIVE = (prefixArg: string) => `
local alive = {}
local function isAlive(p)
  local a = alive[p]
  if a == nil then
    a = redis.call('EXISTS', ${prefixArg} .. p) == 1
    alive[p] = a
  end
  return a
end
`;

/** Remote subscribers: the sum of the live processes' counts but this process's. */
const REMOTE_COUNT = `${ALIVE('ARGV[2]')}
local counts = redis.call('HGETALL', KEYS[2])
local total = 0
for i = 1, #counts, 2 do
  local p = counts[i]
  if p ~= ARGV[1] and isAlive(p) then total = total + tonumber(counts[i + 1]) end
end
`;

/**
 * KEYS: members, counts. ARGV: process id, alive prefix, channel, message, excluded ids…
 * PUBLISH, then the remote subscribers it reached by the counts, less the excluded ids that
 * are remote live members of the topic.
 */
export const PUBLISH_SCRIPT = `${REMOTE_COUNT}
redis.call('PUBLISH', ARGV[3], ARGV[4])
for i = 5, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local p = string.sub(v, 1, (string.find(v, '\\n', 1, true) or (#v + 1)) - 1)
    if p ~= ARGV[1] and isAlive(p) then total = total - 1 end
  end
end
return total
`;

/** KEYS: members, counts. ARGV: process id, alive prefix. The remote subscribers. */
export const REMOTE_COUNT_SCRIPT = `${REMOTE_COUNT}
return total
`;

/**
 * KEYS: members, counts. ARGV: alive prefix. The members of live processes, as a flat
 * [id, value, …] list; the entries of dead processes are deleted on the way.
 */
export const MEMBERS_SCRIPT = `${ALIVE('ARGV[1]')}
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local p = string.sub(v, 1, (string.find(v, '\\n', 1, true) or (#v + 1)) - 1)
  if isAlive(p) then
    out[#out + 1] = all[i]
    out[#out + 1] = v
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
local procs = redis.call('HKEYS', KEYS[2])
for _, p in ipairs(procs) do
  if not isAlive(p) then redis.call('HDEL', KEYS[2], p) end
end
return out
`;

/**
 * KEYS: members, counts. ARGV: process id, count, then id, value pairs: this process's members
 * of the topic as they are now. Writes them, deletes the process's other entries (left from
 * before an outage), and sets its count. Used after a reconnect, a Redis restart, or a failed write.
 */
export const SYNC_SCRIPT = `
local mine = ARGV[1] .. '\\n'
local keep = {}
for i = 3, #ARGV, 2 do
  keep[ARGV[i]] = true
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if not keep[all[i]] and string.sub(all[i + 1], 1, #mine) == mine then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 0
`;

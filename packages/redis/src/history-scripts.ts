/**
 * The Lua of `RedisHistory`. Each script runs atomically, so an offset, its entry and the
 * epoch they belong to are always written (and read) together.
 *
 * KEYS: the channel's stream, then its epoch hash (fields `epoch`, `offset`).
 * ARGV, shared: a new epoch (used only when one must start), idle TTL (ms), max length,
 * max age (ms).
 */

/**
 * `current()`: the channel's epoch and last offset. A new epoch (from offset 0) starts when
 * there is none (first use, Redis restarted, keys expired) or when the stream vanished under a
 * hash that counted publications (the stream key was deleted): entries of another run must
 * never be read under this one, so a stale stream is deleted too. `now()`: Redis's clock in ms,
 * the clock of the stream ids.
 */
const COMMON = `
local function current()
  local epoch = redis.call('HGET', KEYS[2], 'epoch')
  local offset = tonumber(redis.call('HGET', KEYS[2], 'offset') or '0')
  if epoch and (offset == 0 or redis.call('EXISTS', KEYS[1]) == 1) then
    return epoch, offset
  end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'offset', 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return ARGV[1], 0
end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * ARGV 5, 6: kind, data JSON. Counts the publication, adds its entry (fields o, k, d, in that
 * order), trims by length and age, and pushes both keys' expiry to the idle TTL. Returns
 * {epoch, offset}.
 */
export const APPEND_SCRIPT = `${COMMON}
local epoch = current()
local offset = redis.call('HINCRBY', KEYS[2], 'offset', 1)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'o', offset, 'k', ARGV[5], 'd', ARGV[6])
redis.call('XTRIM', KEYS[1], 'MINID', '~', now() - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {epoch, offset}
`;

/**
 * ARGV 5, 6: the client's epoch and offset ('' and -1 for none). Returns {epoch, offset, 1,
 * then (offset, kind, data) per missed entry, newest first} when every publication after the
 * client's offset is held within the bounds, else {epoch, offset, 0}. Reads only the missed
 * entries: the stream holds consecutive offsets ending at the last one (trimming takes from
 * the head only), so the last `missed` entries are exactly those.
 */
export const READ_SCRIPT = `${COMMON}
local epoch, offset = current()
local since = tonumber(ARGV[6])
if since < 0 or ARGV[5] ~= epoch or since > offset then return {epoch, offset, 0} end
local missed = offset - since
if missed == 0 then return {epoch, offset, 1} end
if missed > tonumber(ARGV[3]) then return {epoch, offset, 0} end
local items = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', missed)
if #items < missed then return {epoch, offset, 0} end
local oldest = items[#items]
if tonumber(oldest[2][2]) ~= since + 1 then return {epoch, offset, 0} end
local at = tonumber(string.match(oldest[1], '^(%d+)'))
if at < now() - tonumber(ARGV[4]) then return {epoch, offset, 0} end
local out = {epoch, offset, 1}
for i = 1, #items do
  local f = items[i][2]
  out[#out + 1] = f[2]
  out[#out + 1] = f[4]
  out[#out + 1] = f[6]
end
return out
`;

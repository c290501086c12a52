"""The Lua scripts of the Redis webhook store. Each runs atomically in Redis, on one app's
keys (one hash tag), built by ``roomkey.redis_keys.RedisKeys.webhooks``:

KEYS[1] due (sorted set: id -> due or claim deadline, ms), KEYS[2] events (hash: id ->
record), KEYS[3] held (hash: hold key -> id), KEYS[4] owners (hash: id -> node id),
KEYS[5] seq (string counter).

Times are Redis's own (``TIME``), so every node agrees on when a leave is due and when a
claim has expired. A record is the JSON ``{"k": hold key or "", "e": event}``. The hold rules
are ``webhooks/debounce.py``'s (the memory store), applied here by the same keys.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] due, KEYS[2] events, KEYS[3] held, KEYS[5] seq (KEYS[4] unused, for the slot)
# ARGV[1] cap (events per app), ARGV[2] hold delay (ms), then per event three values:
#   the record, its hold key ('' unless a leave to hold), the hold it cancels ('' if none)
# -> per event: 1 stored, 0 cancelled a held leave (neither is sent), -1 refused (cap)
PUSH = (
    _NOW
    + """
local cap = tonumber(ARGV[1])
local delay = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 3 do
  local record, hold, cancel = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local held = false
  if cancel ~= '' then held = redis.call('HGET', KEYS[3], cancel) end
  if held then
    redis.call('HDEL', KEYS[3], cancel)
    redis.call('ZREM', KEYS[1], held)
    redis.call('HDEL', KEYS[2], held)
    out[#out + 1] = 0
  elseif redis.call('ZCARD', KEYS[1]) >= cap then
    out[#out + 1] = -1
  else
    local id = tostring(redis.call('INCR', KEYS[5]))
    redis.call('HSET', KEYS[2], id, record)
    local due = now
    if hold ~= '' then
      due = now + delay
      redis.call('HSET', KEYS[3], hold, id)
    end
    redis.call('ZADD', KEYS[1], due, id)
    out[#out + 1] = 1
  end
end
return out
"""
)

# KEYS[1] due, KEYS[2] events, KEYS[3] held, KEYS[4] owners
# ARGV[1] node id, ARGV[2] lease (ms), ARGV[3] limit
# -> {events kept for the app, id1, record1, id2, record2, ...}: the events due now (never
#    claimed, or their claim expired), now claimed by ARGV[1] until now + lease. A claimed
#    leave is no longer held (a re-join no longer cancels it).
CLAIM = (
    _NOW
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {redis.call('ZCARD', KEYS[1])}
for _, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[2], id)
  if record then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    redis.call('HSET', KEYS[4], id, ARGV[1])
    local hold = cjson.decode(record)['k']
    if type(hold) == 'string' and hold ~= '' and redis.call('HGET', KEYS[3], hold) == id then
      redis.call('HDEL', KEYS[3], hold)
    end
    out[#out + 1] = id
    out[#out + 1] = record
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""
)

# KEYS[1] due, KEYS[4] owners (KEYS[2], KEYS[3], KEYS[5] unused, for the slot)
# ARGV[1] node id, ARGV[2] lease (ms; 0 releases: due now), ARGV[3..] ids
# -> how many of the ids ARGV[1] still held (the others were claimed by another node)
RENEW = (
    _NOW
    + """
local n = 0
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[4], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[i])
    n = n + 1
  end
end
return n
"""
)

# KEYS[1] due, KEYS[2] events, KEYS[4] owners (KEYS[3], KEYS[5] unused, for the slot)
# ARGV ids -> how many were still kept. Forgets events whoever claims them now.
ACK = """
local n = 0
for i = 1, #ARGV do
  n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i])
end
return n
"""

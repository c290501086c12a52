"""The Lua scripts of the Redis presence store. Each runs atomically in Redis.

Each script states its KEYS and ARGV; the key names (subscribers set, channels hash, the
three presence hashes of a channel, a node's entries set) are built by ``roomkey.redis_keys``,
the only module that knows the layout. The node registry's scripts (heartbeat, claiming dead
nodes) are in ``cluster/redis.py``.

Every script is idempotent: adding what is there, or removing what is not, changes nothing
and reports nothing new, so a sweep or reconciliation that runs twice announces nothing twice.
"""

from __future__ import annotations

# KEYS[1] subs set, KEYS[2] channels hash, KEYS[3] node entries set
# ARGV[1] socket id, ARGV[2] channel, ARGV[3] entry
# -> the channel's subscriber count afterwards
ADD_SUBSCRIBER = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
local n = redis.call('SCARD', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[2], n)
return n
"""

# KEYS[1] subs set, KEYS[2] channels hash, KEYS[3] node entries set
# ARGV[1] socket id, ARGV[2] channel, ARGV[3] entry
# -> the count afterwards (0: vacated), or -1 when the socket was not counted
REMOVE_SUBSCRIBER = """
redis.call('SREM', KEYS[3], ARGV[3])
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then
  return -1
end
local n = redis.call('SCARD', KEYS[1])
if n == 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
else
  redis.call('HSET', KEYS[2], ARGV[2], n)
end
return n
"""

# KEYS[1] sockets hash, KEYS[2] users hash, KEYS[3] conns hash, KEYS[4] node entries set
# ARGV[1] socket id, ARGV[2] user id, ARGV[3] user_info JSON, ARGV[4] max members (0: no
# limit), ARGV[5] entry
# -> {1 first connection of the user | 0 not first | -1 channel full, flat users hash}
JOIN = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[4], ARGV[5])
  return {0, redis.call('HGETALL', KEYS[2])}
end
local held = redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1
local max = tonumber(ARGV[4])
if (not held) and max > 0 and redis.call('HLEN', KEYS[3]) >= max then
  return {-1, {}}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local n = redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
if n == 1 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
end
redis.call('SADD', KEYS[4], ARGV[5])
local first = 0
if n == 1 then first = 1 end
return {first, redis.call('HGETALL', KEYS[2])}
"""

# KEYS[1] sockets hash, KEYS[2] users hash, KEYS[3] conns hash, KEYS[4] node entries set
# ARGV[1] socket id, ARGV[2] entry
# -> the user id when this was the user's last connection on the channel, else nil
LEAVE = """
redis.call('SREM', KEYS[4], ARGV[2])
local user = redis.call('HGET', KEYS[1], ARGV[1])
if not user then
  return false
end
redis.call('HDEL', KEYS[1], ARGV[1])
local n = redis.call('HINCRBY', KEYS[3], user, -1)
if n <= 0 then
  redis.call('HDEL', KEYS[3], user)
  redis.call('HDEL', KEYS[2], user)
  return user
end
return false
"""

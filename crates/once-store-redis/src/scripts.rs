//! The Lua scripts that make each operation atomic. Every script touches the keys of one hash tag
//! only (one secret's `{sid}` keys, or the accounts' `{acct}` keys), so each runs inside one Redis
//! Cluster slot as well as on a single server. Lockouts share the `{lock}` tag; a rate-limit
//! counter is one key with a tag of its own (`{rl:KEY}`).
//!
//! Times are the caller's (`ARGV`), never Redis's clock: the store traits take `now` from the
//! core's clock, and records stay logically expired by their stored `x` (expires_at) field even
//! while their Redis TTL (a backstop a little later than that) has not fired yet.

use std::sync::LazyLock;

use redis::Script;

/// KEYS: secret, receipt state. ARGV: secret TTL ms, receipt TTL ms, n, n secret field/value
/// arguments, then the receipt field/value arguments.
/// Returns 1, or 0 when either record exists already.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
local n = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 4, 3 + n))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 4 + n, #ARGV))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
",
    )
});

// The view log's cap written out in TAKE.
const _: () = assert!(once_store::VIEW_LOG_MAX_BYTES == 4096);

/// KEYS: secret, receipt state. ARGV: now, "1" to leave a passphrase-protected secret alone, a
/// view note for the receipt's log ('' for none; appended by `ViewNote::append`'s rule).
/// Returns {0} gone, {1} guarded (nothing changed), {2, envelope, views_left} claimed.
pub(crate) static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'v', 'x', 'p', 'e')
if not s[1] or tonumber(s[1]) <= 0 or tonumber(s[2]) <= now then return {0} end
if ARGV[2] == '1' and s[3] == '1' then return {1} end
local left = tonumber(s[1]) - 1
if left == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'v', left)
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'n', 1)
  redis.call('HSET', KEYS[2], 'u', now)
  if left == 0 then
    redis.call('HSET', KEYS[2], 'st', 'received', 'ra', now)
    redis.call('HDEL', KEYS[2], 'k')
  end
  if ARGV[3] and ARGV[3] ~= '' then
    local n = redis.call('HSTRLEN', KEYS[2], 'vl')
    if n == 0 then
      redis.call('HSET', KEYS[2], 'vl', ARGV[3])
    elseif n < 4096 then
      redis.call('HSET', KEYS[2], 'vl', redis.call('HGET', KEYS[2], 'vl') .. ';' .. ARGV[3])
    end
  end
end
return {2, s[4], left}
",
    )
});

/// KEYS: secret, receipt state. ARGV: now, cap.
/// Returns {0} gone, {1, failures} counted, {2} this failure burned the secret.
pub(crate) static FAILURE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'v', 'x')
if not s[1] or tonumber(s[1]) <= 0 or tonumber(s[2]) <= now then return {0} end
local failures = redis.call('HINCRBY', KEYS[1], 'f', 1)
local burned = failures >= tonumber(ARGV[2])
if burned then redis.call('DEL', KEYS[1]) end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'f', failures, 'u', now)
  if burned then
    redis.call('HSET', KEYS[2], 'st', 'burned', 'br', 'passphrase_failures')
    redis.call('HDEL', KEYS[2], 'k')
  end
end
if burned then return {2} end
return {1, failures}
",
    )
});

/// KEYS: secret, receipt state. ARGV: now, receipt id.
/// Returns {0} no such unexpired receipt, {1, receipt} already gone, {2, receipt} burned now.
pub(crate) static BURN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local r = redis.call('HMGET', KEYS[2], 'i', 'x')
if r[1] ~= ARGV[2] or tonumber(r[2]) <= now then return {0} end
local s = redis.call('HMGET', KEYS[1], 'v', 'x')
if not s[1] or tonumber(s[1]) <= 0 or tonumber(s[2]) <= now then
  return {1, redis.call('HGETALL', KEYS[2])}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'st', 'burned', 'br', 'sender', 'u', now)
redis.call('HDEL', KEYS[2], 'k')
return {2, redis.call('HGETALL', KEYS[2])}
",
    )
});

/// KEYS: receipt state. ARGV: now, receipt id.
/// Returns the receipt as it was ({} if there is no such unexpired receipt) and moves it from
/// `new` (written, or implied by an absent `st`) to `viewed`, dropping the sealed secret key.
pub(crate) static OPEN_RECEIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local r = redis.call('HMGET', KEYS[1], 'i', 'x', 'st')
if r[1] ~= ARGV[2] or tonumber(r[2]) <= tonumber(ARGV[1]) then return {} end
local before = redis.call('HGETALL', KEYS[1])
if r[3] == 'new' or not r[3] then
  redis.call('HSET', KEYS[1], 'st', 'viewed', 'u', ARGV[1])
  redis.call('HDEL', KEYS[1], 'k')
end
return before
",
    )
});

/// KEYS: secret. ARGV: now. Deletes the secret if it is expired; returns 1 if it did.
pub(crate) static PURGE_SECRET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local x = redis.call('HGET', KEYS[1], 'x')
if x and tonumber(x) <= tonumber(ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// KEYS: receipt state. ARGV: now, receipt id. Deletes the receipt if it is expired; returns 1 if
/// it did.
pub(crate) static PURGE_RECEIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local r = redis.call('HMGET', KEYS[1], 'i', 'x')
if r[1] == ARGV[2] and tonumber(r[2]) <= tonumber(ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// KEYS: account, e-mail index, account list, accounts by e-mail, and with a first API key: the
/// key, the account's key index. ARGV: account id, created_at, n, the key's hash and created_at
/// (empty without a key), the e-mail, n account field/value arguments, then the key's
/// field/value arguments.
/// Returns 1, 0 if the account or e-mail exists, -1 if the key exists.
pub(crate) static ADD_ACCOUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
if KEYS[5] and redis.call('EXISTS', KEYS[5]) > 0 then return -1 end
local n = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 7, 6 + n))
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[6])
if KEYS[5] then
  redis.call('HSET', KEYS[5], unpack(ARGV, 7 + n, #ARGV))
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[4])
end
return 1
",
    )
});

/// KEYS: account, API key, the account's key index. ARGV: the key's hash, created_at, then its
/// field/value arguments.
/// Returns 1, 0 if the account does not exist, -1 if the key exists.
pub(crate) static ADD_API_KEY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) > 0 then return -1 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3, #ARGV))
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
",
    )
});

/// KEYS: API key. ARGV: account id, now. Revokes the key (field `rv`) if it belongs to that
/// account and is not revoked yet; returns 1 if it did.
pub(crate) static REVOKE_API_KEY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local k = redis.call('HMGET', KEYS[1], 'a', 'rv')
if k[1] ~= ARGV[1] or k[2] then return 0 end
redis.call('HSET', KEYS[1], 'rv', ARGV[2])
return 1
",
    )
});

/// KEYS: API key. ARGV: now. Sets the key's last use if the key exists.
pub(crate) static TOUCH_API_KEY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'lu', ARGV[1]) end
return 1
",
    )
});

/// KEYS: a key. ARGV: a value. Deletes the key if it holds exactly that value; returns 1 if it did.
pub(crate) static DEL_IF_EQUAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// KEYS: account, session, the account's sessions, the sessions' end index. ARGV: session hash,
/// created_at, ends_at, TTL ms, then the session's field/value arguments.
/// Returns 1, 0 if the account does not exist, -1 if the session exists.
pub(crate) static CREATE_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('HSET', KEYS[2], unpack(ARGV, 5, #ARGV))
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return 1
",
    )
});

/// KEYS: session, the sessions' end index. ARGV: now, session hash.
/// Moves a live session's last use forward to `now` (never back) and its deadline with it.
pub(crate) static TOUCH_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local s = redis.call('HMGET', KEYS[1], 'l', 'i', 'x')
if not s[1] then return 0 end
local now, l, i, x = tonumber(ARGV[1]), tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
if now >= math.min(x, l + i) or l >= now then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', math.min(x, now + i), ARGV[2])
return 1
",
    )
});

/// KEYS: account. ARGV: TOTP step. Records the step if it is later than the last one accepted
/// (field `ts`); returns 1 if it did, 0 for a replay or an unknown account.
pub(crate) static USE_TOTP_STEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'ts') or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('HSET', KEYS[1], 'ts', ARGV[1])
return 1
",
    )
});

/// KEYS: account. ARGV: field, value pairs. Sets fields of an existing account together (`pw` the
/// password hash, `pv` the vault sealed under the password, `d` disabled, `role`); returns 1, or 0
/// if there is no such account.
pub(crate) static SET_ACCOUNT_FIELD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
",
    )
});

/// KEYS: account, its second factor, its recovery codes. ARGV: sealed secret, enabled_at, then
/// the recovery code hashes; or nothing at all to remove both. The account's last TOTP step (on
/// the account) is left alone. Returns 1, or 0 if there is no such account.
pub(crate) static SET_TOTP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
if #ARGV == 0 then return 1 end
redis.call('HSET', KEYS[2], 's', ARGV[1], 'e', ARGV[2])
for i = 3, #ARGV, 1000 do
  redis.call('SADD', KEYS[3], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
",
    )
});

/// The lockout state at `now` of a counter (failures `f`, last failure `t`, lock end `u`, 0 if
/// the round has not locked): {failures, locked_until or 0}. A lock that has ended, or a round
/// whose last failure is `window` old, counts as nothing.
const LOCKOUT_AT: &str = r"
local function at(f, t, u, window, now)
  if u > now then return {f, u} end
  if u ~= 0 or now - t >= window then return {0, 0} end
  return {f, 0}
end
";

/// KEYS: the subject's counter, the locked index. ARGV: subject, limit, window, lock seconds,
/// now, grace seconds (added to the counter's Redis TTL, a backstop only).
/// Counts one failure and returns the state after it ({failures, locked_until or 0}).
pub(crate) static LOCKOUT_FAILURE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{LOCKOUT_AT}{}",
        r"
local limit, window, lock, now = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local c = redis.call('HMGET', KEYS[1], 'f', 't', 'u')
local f, t, u = tonumber(c[1] or '0'), tonumber(c[2] or '0'), tonumber(c[3] or '0')
local state = at(f, t, u, window, now)
if state[2] ~= 0 then return state end
f = state[1] + 1
if f >= limit then
  u = now + lock
  redis.call('HSET', KEYS[1], 'f', f, 't', now, 'u', u)
  redis.call('ZADD', KEYS[2], u, ARGV[1])
else
  if u ~= 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
  u = 0
  redis.call('HSET', KEYS[1], 'f', f, 't', now)
  redis.call('HDEL', KEYS[1], 'u')
end
-- At most ten years, so that an absurd window or lock still makes a valid EXPIRE.
local ttl = math.min(math.max(window, u - now, 0), 315360000) + tonumber(ARGV[6])
redis.call('EXPIRE', KEYS[1], ttl)
return at(f, now, u, window, now)
"
    ))
});

/// KEYS: the locked index. ARGV: now, limit, grace seconds. Returns up to `limit` locks that have
/// not ended at `now`, soonest end first, as member/score pairs, and drops those that ended more
/// than `grace` ago (not at once: another instance's clock may be a little behind).
pub(crate) static LOCKED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, ARGV[2])
",
    )
});

/// KEYS: the rate-limit key. ARGV: limit, period ms, now ms.
/// One step of `once_store::gcra` on the key's theoretical arrival time (TAT, ms; no key: none).
/// Returns 0 when allowed (the new TAT is stored, expiring when it is reached: from then on no key
/// means the same as that TAT), or the wait in ms (≥ 1) when refused (nothing changes).
///
/// Lua numbers are doubles: every value here is an integer below 2^53 as long as the caller keeps
/// `now` and the period within ±2^51 ms, so this is exact (`RATE_HIT_RANGE` in the crate root).
/// `math.floor` then `max(…, 1)` gives the interval Rust's truncating division does: the two
/// differ only for a negative quotient, which the `max` lifts to 1 either way. Values are written
/// with `%d` so that no large TAT is ever stored in exponent notation.
pub(crate) static RATE_HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local limit, period, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local interval = math.max(math.floor(period / math.max(limit, 1)), 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local ahead = math.max(tat, now) + interval - now
if ahead > period then return ahead - period end
redis.call('SET', KEYS[1], string.format('%d', now + ahead), 'PX', string.format('%d', ahead))
return 0
",
    )
});

/// KEYS: the audit head, the audit log. ARGV: the head the caller chained after (its value, or
/// empty if there was none), the new head, then score/member pairs (seq, encoded record).
/// Appends the records and moves the head only if the head is still the caller's (compare and
/// set: the hashes are computed by the caller, as Redis Lua has no SHA-256). Returns 1, or 0 if
/// another append came first (nothing changed).
pub(crate) static APPEND_AUDIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
",
    )
});

/// KEYS: the audit log, the audit anchor. ARGV: before (i64, 8 bytes big-endian), batch.
/// Removes the oldest records while their time is before `before`, at most `batch`, and sets the
/// anchor to the last one removed (its seq and hash), in one step. Returns how many went.
///
/// Times are compared as bytes (the sign bit flipped, so negative times sort first) rather than
/// as Lua numbers, which are doubles and would round times beyond 2^53.
pub(crate) static PRUNE_AUDIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local before, batch = ARGV[1], tonumber(ARGV[2])
local function older(r)
  if #r < 81 then error('malformed audit record') end
  for i = 0, 7 do
    local a, b = r:byte(10 + i), before:byte(1 + i)
    if i == 0 then a, b = (a + 128) % 256, (b + 128) % 256 end
    if a ~= b then return a < b end
  end
  return false
end
local removed, last = 0, nil
while removed < batch do
  local chunk = redis.call('ZRANGE', KEYS[1], removed, math.min(removed + 255, batch - 1))
  if #chunk == 0 then break end
  local kept = false
  for _, r in ipairs(chunk) do
    if not older(r) then kept = true break end
    last, removed = r, removed + 1
  end
  if kept then break end
end
if removed > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, removed - 1)
  redis.call('SET', KEYS[2], string.sub(last, 2, 9) .. string.sub(last, 50, 81))
end
return removed
",
    )
});

// The Lua scripts behind credits, usage, rate windows and listAccounts (v2): one round trip each, atomic on the
// server. Names are those of the layout in scripts.ts, all under the deployment's hash-tagged prefix (one slot).

import type { ScriptDefinition } from './scripts';

/**
 * KEYS: account:<id>. ARGV: id, amount, channel. Returns {balance after, 1 if this grant metered the account else
 * 0}, or nil for an unknown account.
 * The first grant meters the account (from a balance of 0) and publishes: its keys' cached accounts must learn it.
 */
const grantCredits = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local metered = redis.call('HEXISTS', KEYS[1], 'balance')
local balance = redis.call('HINCRBY', KEYS[1], 'balance', ARGV[2])
if metered == 0 then redis.call('PUBLISH', ARGV[3], 'a:' .. ARGV[1]) end
return {balance, 1 - metered}
`;

/**
 * KEYS: account:<id>. ARGV: amount ('' removes the refill), period. A new or changed refill applies at the next
 * take: the period last applied is forgotten. Returns the credit fields (HMGET order), or nil when unmetered.
 */
const setCreditRefill = `
if redis.call('HEXISTS', KEYS[1], 'balance') == 0 then return false end
redis.call('HDEL', KEYS[1], 'refilledPeriod')
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'refillAmount', 'refillPeriod')
else
  redis.call('HSET', KEYS[1], 'refillAmount', ARGV[1], 'refillPeriod', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'id', 'balance', 'refillAmount', 'refillPeriod', 'refilledPeriod')
`;

/** KEYS: account:<id>. ARGV: id, channel. Returns 0 for an unknown account, else drops the credits, publishes, 1. */
const unmeter = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], 'balance', 'refillAmount', 'refillPeriod', 'refilledPeriod')
redis.call('PUBLISH', ARGV[2], 'a:' .. ARGV[1])
return 1
`;

/**
 * KEYS: account:<id>. ARGV: want, min, the day and the month of now (UTC). Applies a due refill (the period of
 * now later than the one last applied: periods only move forward, so a clock behind never refills twice), then
 * takes min(want, balance) when balance >= min. Returns {granted, balance after, 1}, or {0, 0, 0} when unmetered.
 */
const takeCredits = `
local v = redis.call('HMGET', KEYS[1], 'balance', 'refillAmount', 'refillPeriod', 'refilledPeriod')
if not v[1] then return {0, 0, 0} end
local balance = tonumber(v[1])
if v[2] and v[3] then
  local period = ARGV[4]
  if v[3] == 'day' then period = ARGV[3] end
  if (not v[4]) or period > v[4] then
    balance = tonumber(v[2])
    redis.call('HSET', KEYS[1], 'refilledPeriod', period)
  end
end
local want, least = tonumber(ARGV[1]), tonumber(ARGV[2])
local granted = 0
if balance >= least then granted = math.min(want, balance) end
redis.call('HSET', KEYS[1], 'balance', string.format('%d', balance - granted))
return {granted, balance - granted, 1}
`;

/** KEYS: account:<id>. ARGV: amount. Ignored for an unmetered account. */
const returnCredits = `
if redis.call('HEXISTS', KEYS[1], 'balance') == 1 then redis.call('HINCRBY', KEYS[1], 'balance', ARGV[1]) end
return 1
`;

/**
 * KEYS: any name under the prefix (routes the script to the prefix's slot). ARGV: prefix, then per row: account
 * id, day, day score (YYYYMMDD), field suffix (JSON of [keyId, environment, module or null]), allowed, credits.
 */
const addUsage = `
for i = 2, #ARGV, 6 do
  local account, day = ARGV[i], ARGV[i + 1]
  local name = ARGV[1] .. 'usage:' .. account .. ':' .. day
  redis.call('HINCRBY', name, 'a' .. ARGV[i + 3], ARGV[i + 4])
  redis.call('HINCRBY', name, 'c' .. ARGV[i + 3], ARGV[i + 5])
  redis.call('ZADD', ARGV[1] .. 'usage-days:' .. account, ARGV[i + 2], day)
end
return 1
`;

/** KEYS: usage-days:<acct>. ARGV: since score, until score, the name prefix of the day hashes. Returns {day, fields}… */
const listUsage = `
local days = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for _, day in ipairs(days) do
  out[#out + 1] = {day, redis.call('HGETALL', ARGV[3] .. day)}
end
return out
`;

/** KEYS: rate:<bucket>:<window start>. ARGV: by, ttl ms. Returns the count after; the counter expires ttl after this. */
const incrementRateWindow = `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return count
`;

/** KEYS: accounts. ARGV: the name prefix of account hashes. Returns each account's fields. */
const listAccounts = `
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields > 0 then out[#out + 1] = fields end
end
return out
`;

/** KEYS: accounts, accounts-indexed. ARGV: ids found by a scan. Adds them (those still stored) and marks the index whole. */
const indexAccounts = `
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 1 then redis.call('SADD', KEYS[1], ARGV[i]) end
end
redis.call('SET', KEYS[2], '1')
return 1
`;

export const meteringScripts = {
  finoraGrantCredits: { numberOfKeys: 1, lua: grantCredits },
  finoraSetCreditRefill: { numberOfKeys: 1, lua: setCreditRefill },
  finoraUnmeter: { numberOfKeys: 1, lua: unmeter },
  finoraTakeCredits: { numberOfKeys: 1, lua: takeCredits },
  finoraReturnCredits: { numberOfKeys: 1, lua: returnCredits },
  finoraAddUsage: { numberOfKeys: 1, lua: addUsage },
  finoraListUsage: { numberOfKeys: 1, lua: listUsage },
  finoraIncrementRateWindow: { numberOfKeys: 1, lua: incrementRateWindow },
  finoraListAccounts: { numberOfKeys: 1, lua: listAccounts },
  finoraIndexAccounts: { numberOfKeys: 2, lua: indexAccounts },
} satisfies Record<string, ScriptDefinition>;

type Fields = string[];
/** HMGET answers: null for a missing field. */
type MaybeFields = (string | null)[];

/** The methods `defineCommand` adds to a client for {@link meteringScripts}. */
export interface MeteringScriptCommands {
  finoraGrantCredits(accountName: string, id: string, amount: string, channel: string): Promise<[number, number] | null>;
  finoraSetCreditRefill(accountName: string, amount: string, period: string): Promise<MaybeFields | null>;
  finoraUnmeter(accountName: string, id: string, channel: string): Promise<number>;
  finoraTakeCredits(accountName: string, want: string, min: string, day: string, month: string): Promise<[number, number, number]>;
  finoraReturnCredits(accountName: string, amount: string): Promise<number>;
  finoraAddUsage(routeName: string, prefix: string, ...rows: string[]): Promise<number>;
  finoraListUsage(daysName: string, since: string, until: string, dayPrefix: string): Promise<[string, Fields][]>;
  finoraIncrementRateWindow(windowName: string, by: string, ttlMs: string): Promise<number>;
  finoraListAccounts(accountsName: string, accountPrefix: string): Promise<Fields[]>;
  finoraIndexAccounts(accountsName: string, indexedName: string, accountPrefix: string, ...ids: string[]): Promise<number>;
}

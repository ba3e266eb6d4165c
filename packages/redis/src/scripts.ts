// The Lua scripts behind every multi-key read and every write: one round trip each, atomic on the server.
//
// Layout under the prefix P (which holds a `{…}` hash tag, so every name below is in one Redis Cluster slot;
// that is what lets a script reach a key it learns while running, such as the account of a key it just read):
//   P key:<sha256>           hash  the stored key (id, accountId, hash, hint, environment, surface, name?,
//                                  createdAt, expiresAt, revokedAt?, scopes? as JSON; absent = full access);
//                                  never the plaintext
//   P key-id:<id>            string  the key's hash, to find a key by id
//   P account:<id>           hash  id, tier, enterprise ('1' | '0'), (v2) rateRequests?, ratePerSeconds?, and
//                                  the credits: balance? (absent = unmetered), refillAmount?, refillPeriod?,
//                                  refilledPeriod?
//   P accounts               set   (v2) every account id (listAccounts); P accounts-indexed marks it complete
//   P account-keys:<id>      zset  the account's key hashes, scored by createdAt
//   P expiring               zset  hashes of unrevoked keys, scored by expiresAt
//   P sa:<client id>         hash  (v2) a service account (clientId, accountId, secretHash, secretHint, environment,
//                                  name?, scopes? as JSON, createdAt, secretCreatedAt, expiresAt, revokedAt?);
//                                  never the client secret
//   P account-sas:<id>       zset  (v2) the account's client ids, scored by createdAt
//   P signing-key:<kid>      hash  (v2) kid, alg, publicJwk, encryptedPrivateKey (opaque to the store), createdAt, retiredAt?
//   P signing-keys           zset  (v2) every kid, scored by createdAt
//   P usage:<acct>:<day>     hash  (v2) usage counters: field 'a' or 'c' (allowed, credits spent) then the JSON of
//                                  [keyId, environment, module or null]
//   P usage-days:<acct>      zset  (v2) the account's usage days, scored by YYYYMMDD
//   P rate:<bucket>:<start>  string (v2) a rate window's count, expiring (PEXPIRE) after its ttl
// Key hashes also carry (v2) rateRequests?, ratePerSeconds?.
//   P events                 pub/sub channel: 'k:<sha256>' (key changed), 'a:<account id>' (account changed),
//                                  (v2) 's:<client id>' (service account changed)
// Each write publishes its invalidation inside the script, so no reader can see the change without it being sent.

/** A command defined on an ioredis client with `defineCommand`: EVALSHA, falling back to EVAL after a restart. */
export interface ScriptDefinition {
  numberOfKeys: number;
  lua: string;
}

/** KEYS: key:<hash>. ARGV: prefix. Returns {key fields, account fields}, or nil when either is missing. */
const find = `
local key = redis.call('HGETALL', KEYS[1])
if #key == 0 then return false end
local accountId
for i = 1, #key, 2 do
  if key[i] == 'accountId' then accountId = key[i + 1] end
end
if not accountId then return {key, {}} end
local account = redis.call('HGETALL', ARGV[1] .. 'account:' .. accountId)
if #account == 0 then return false end
return {key, account}
`;

/** KEYS: key-id:<id>. ARGV: prefix. Returns the key's fields, or nil. */
const getKey = `
local hash = redis.call('GET', KEYS[1])
if not hash then return false end
local key = redis.call('HGETALL', ARGV[1] .. 'key:' .. hash)
if #key == 0 then return false end
return key
`;

/**
 * KEYS: key:<hash>, key-id:<id>, account-keys:<accountId>, expiring.
 * ARGV: hash, createdAt, expiresAt, revoked ('1' | '0'), channel, message, then field, value, field, value…
 */
const insertKey = `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('FINORA_DUPLICATE a key with this id or hash is already stored')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
if ARGV[4] == '0' then redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1]) end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`;

/**
 * KEYS: key-id:<id>, expiring. ARGV: revokedAt, prefix, channel.
 * Returns nil for an unknown id, else {1 if this call revoked it, 0 if it already was; the key's fields}.
 */
const revokeKey = `
local hash = redis.call('GET', KEYS[1])
if not hash then return false end
local name = ARGV[2] .. 'key:' .. hash
if redis.call('EXISTS', name) == 0 then return false end
local changed = 0
if redis.call('HEXISTS', name, 'revokedAt') == 0 then
  redis.call('HSET', name, 'revokedAt', ARGV[1])
  redis.call('ZREM', KEYS[2], hash)
  redis.call('PUBLISH', ARGV[3], 'k:' .. hash)
  changed = 1
end
return {changed, redis.call('HGETALL', name)}
`;

/**
 * KEYS: account:<id>, accounts. ARGV: id, tier, enterprise ('1' | '0'), channel, rateRequests, ratePerSeconds
 * ('' for no rate limit). The credits fields are never touched: only grants and unmeter change them.
 */
const putAccount = `
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'tier', ARGV[2], 'enterprise', ARGV[3])
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[1], 'rateRequests', 'ratePerSeconds')
else
  redis.call('HSET', KEYS[1], 'rateRequests', ARGV[5], 'ratePerSeconds', ARGV[6])
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[4], 'a:' .. ARGV[1])
return 1
`;

/**
 * KEYS: account:<id>. ARGV: id, channel, '1' to remove the rate limit (else '0'), then field, value, field,
 * value… (only the fields the patch names). Returns the account's fields, or nil when there is no such account
 * (nothing is created).
 */
const updateAccount = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[3] == '1' then redis.call('HDEL', KEYS[1], 'rateRequests', 'ratePerSeconds') end
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
redis.call('PUBLISH', ARGV[2], 'a:' .. ARGV[1])
return redis.call('HGETALL', KEYS[1])
`;

/**
 * KEYS: a zset of members. ARGV: min score, max score (ZRANGEBYSCORE syntax), the name prefix of the members'
 * hashes (P key:, P sa:, P signing-key:). Returns each hash's fields, in score order.
 */
const list = `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for _, member in ipairs(members) do
  local fields = redis.call('HGETALL', ARGV[3] .. member)
  if #fields > 0 then out[#out + 1] = fields end
end
return out
`;

/** KEYS: sa:<client id>. ARGV: prefix. Returns {service account fields, account fields}, or nil when either is missing. */
const findServiceAccount = `
local sa = redis.call('HGETALL', KEYS[1])
if #sa == 0 then return false end
local accountId
for i = 1, #sa, 2 do
  if sa[i] == 'accountId' then accountId = sa[i + 1] end
end
if not accountId then return {sa, {}} end
local account = redis.call('HGETALL', ARGV[1] .. 'account:' .. accountId)
if #account == 0 then return false end
return {sa, account}
`;

/** KEYS: sa:<client id>, account-sas:<accountId>. ARGV: client id, createdAt, channel, then field, value… */
const insertServiceAccount = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('FINORA_DUPLICATE a service account with this client id is already stored')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], 's:' .. ARGV[1])
return 1
`;

/**
 * KEYS: sa:<client id>. ARGV: client id, channel, secretHash, secretHint, secretCreatedAt, expiresAt.
 * Returns the service account's fields after the change, or nil when it is unknown or revoked (nothing changes).
 */
const replaceServiceAccountSecret = `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then return false end
redis.call('HSET', KEYS[1], 'secretHash', ARGV[3], 'secretHint', ARGV[4], 'secretCreatedAt', ARGV[5], 'expiresAt', ARGV[6])
redis.call('PUBLISH', ARGV[2], 's:' .. ARGV[1])
return redis.call('HGETALL', KEYS[1])
`;

/**
 * KEYS: sa:<client id>. ARGV: client id, channel, revokedAt.
 * Returns nil for an unknown client id, else {1 if this call revoked it, 0 if it already was; its fields}.
 */
const revokeServiceAccount = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local changed = 0
if redis.call('HEXISTS', KEYS[1], 'revokedAt') == 0 then
  redis.call('HSET', KEYS[1], 'revokedAt', ARGV[3])
  redis.call('PUBLISH', ARGV[2], 's:' .. ARGV[1])
  changed = 1
end
return {changed, redis.call('HGETALL', KEYS[1])}
`;

/** KEYS: signing-key:<kid>, signing-keys. ARGV: kid, createdAt, then field, value… No event: nothing caches them. */
const insertSigningKey = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('FINORA_DUPLICATE a signing key with this kid is already stored')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
`;

/** KEYS: signing-key:<kid>. ARGV: retiredAt. Returns its fields (the first retiredAt kept), or nil when unknown. */
const retireSigningKey = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSETNX', KEYS[1], 'retiredAt', ARGV[1])
return redis.call('HGETALL', KEYS[1])
`;

export const scripts = {
  finoraFind: { numberOfKeys: 1, lua: find },
  finoraGetKey: { numberOfKeys: 1, lua: getKey },
  finoraInsertKey: { numberOfKeys: 4, lua: insertKey },
  finoraRevokeKey: { numberOfKeys: 2, lua: revokeKey },
  finoraPutAccount: { numberOfKeys: 2, lua: putAccount },
  finoraUpdateAccount: { numberOfKeys: 1, lua: updateAccount },
  finoraList: { numberOfKeys: 1, lua: list },
  finoraFindServiceAccount: { numberOfKeys: 1, lua: findServiceAccount },
  finoraInsertServiceAccount: { numberOfKeys: 2, lua: insertServiceAccount },
  finoraReplaceServiceAccountSecret: { numberOfKeys: 1, lua: replaceServiceAccountSecret },
  finoraRevokeServiceAccount: { numberOfKeys: 1, lua: revokeServiceAccount },
  finoraInsertSigningKey: { numberOfKeys: 2, lua: insertSigningKey },
  finoraRetireSigningKey: { numberOfKeys: 1, lua: retireSigningKey },
} satisfies Record<string, ScriptDefinition>;

type Fields = string[];

/** The methods `defineCommand` adds to a client for {@link scripts}. */
export interface ScriptCommands {
  finoraFind(keyName: string, prefix: string): Promise<[Fields, Fields] | null>;
  finoraGetKey(idName: string, prefix: string): Promise<Fields | null>;
  finoraInsertKey(
    keyName: string,
    idName: string,
    accountKeysName: string,
    expiringName: string,
    ...args: string[]
  ): Promise<number>;
  finoraRevokeKey(idName: string, expiringName: string, revokedAt: string, prefix: string, channel: string): Promise<[number, Fields] | null>;
  finoraPutAccount(
    accountName: string,
    accountsName: string,
    id: string,
    tier: string,
    enterprise: string,
    channel: string,
    rateRequests: string,
    ratePerSeconds: string,
  ): Promise<number>;
  finoraUpdateAccount(accountName: string, id: string, channel: string, ...fields: string[]): Promise<Fields | null>;
  finoraList(zsetName: string, min: string, max: string, memberPrefix: string): Promise<Fields[]>;
  finoraFindServiceAccount(saName: string, prefix: string): Promise<[Fields, Fields] | null>;
  finoraInsertServiceAccount(saName: string, accountSasName: string, clientId: string, createdAt: string, channel: string, ...fields: string[]): Promise<number>;
  finoraReplaceServiceAccountSecret(
    saName: string,
    clientId: string,
    channel: string,
    secretHash: string,
    secretHint: string,
    secretCreatedAt: string,
    expiresAt: string,
  ): Promise<Fields | null>;
  finoraRevokeServiceAccount(saName: string, clientId: string, channel: string, revokedAt: string): Promise<[number, Fields] | null>;
  finoraInsertSigningKey(keyName: string, zsetName: string, kid: string, createdAt: string, ...fields: string[]): Promise<number>;
  finoraRetireSigningKey(keyName: string, retiredAt: string): Promise<Fields | null>;
}

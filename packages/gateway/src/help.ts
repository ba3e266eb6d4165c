// The `--help` text of every finora-auth command.

const STORE = `  --store URL              where keys live: sqlite:PATH, redis://HOST[:PORT], rediss://…, postgres://HOST/DB
                           (default: $FINORA_AUTH_STORE, else sqlite:./.finora/keys.db)`;

const SECRET = `  --secret-file PATH       the operator secret that seals the signing keys, 32 bytes or more; the same for every
                           gateway and command on one store (default: the file $FINORA_AUTH_SECRET_FILE names,
                           else the value of $FINORA_AUTH_SECRET; make one: openssl rand -base64 48 > FILE)`;

export const HELP: Record<string, string> = {
  main: `finora-auth: API-key authentication in front of your API

Usage:
  finora-auth serve [--port 8787] [--store URL] [--upstream URL]
  finora-auth accounts set ACCOUNT_ID --tier free|premium|accountant_pro [--enterprise|--no-enterprise]
                           [--rate-limit N/SECONDS|none] [--json]
  finora-auth accounts list [--json]
  finora-auth keys create --account ACCOUNT_ID --env live|test [--surface retail|enterprise] [--name NAME]
                          [--scope SCOPE]... [--read-only] [--rate-limit N/SECONDS] [--json]
  finora-auth keys list --account ACCOUNT_ID [--json]
  finora-auth keys revoke KEY_ID [--json]
  finora-auth keys rotate KEY_ID [--json]
  finora-auth keys expiring [--within DAYS] [--json]
  finora-auth service-accounts create --account ACCOUNT_ID --env live|test [--name NAME] [--scope SCOPE]... [--json]
  finora-auth service-accounts list --account ACCOUNT_ID [--json]
  finora-auth service-accounts rotate CLIENT_ID [--json]
  finora-auth service-accounts revoke CLIENT_ID [--json]
  finora-auth signing-keys list|rotate [--secret-file PATH] [--json]
  finora-auth credits grant ACCOUNT_ID AMOUNT | show ACCOUNT_ID | refill ACCOUNT_ID ... | unmeter ACCOUNT_ID
  finora-auth usage ACCOUNT_ID [--since DATE] [--until DATE] [--json]
  finora-auth store copy --from URL --to URL [--json]

Every command takes --store URL and --help; finora-auth --version prints the version. Start with: finora-auth serve
`,

  serve: `finora-auth serve: run the authenticating gateway

Every request needs "Authorization: Bearer <key>"; the module is read from the path (/v1/<module>/…).
Without --upstream a demo API answers every module with your key's AuthContext; with it, allowed requests
are proxied there without the Authorization header and with Finora-Account-Id, Finora-Key-Id,
Finora-Environment and Finora-Module added. GET /healthz needs no key; GET /metrics is Prometheus text.
On first start with an empty sqlite store, a demo account and a test key are created and printed once.

Options:
  --port N                 port to listen on (default: $PORT, else 8787)
  --host ADDRESS           address to listen on; 0.0.0.0 serves every interface
                           (default: $FINORA_AUTH_HOST, else 127.0.0.1)
${STORE}
  --upstream URL           proxy to this http(s) URL (default: $FINORA_AUTH_UPSTREAM, else the demo API)
  --forward-auth           answer a proxy's auth subrequests instead (nginx auth_request, Caddy forward_auth,
                           Traefik forwardAuth, Envoy ext_authz): 200 with Finora-* identity headers, or the
                           refusal; see docs/forward-auth.md
  --secret-file PATH       the operator secret that seals the OAuth signing keys (default: $FINORA_AUTH_SECRET_FILE,
                           else $FINORA_AUTH_SECRET); with it serve also answers POST /oauth/token,
                           /.well-known/jwks.json and the issuer metadata, and accepts the tokens it issues
  --issuer URL             the tokens' iss and aud (default: $FINORA_AUTH_ISSUER, else http://HOST:PORT)
  --internal-token-file PATH
                           answer @finora-auth/http (edge functions) under /internal/, only with the token in
                           this file (32 characters or more, read once, never printed); see docs/stores-http.md.
                           Without it /internal/ is an API path
  --admin-token-file PATH  serve the admin console at /admin/ (accounts, keys, service accounts, credits,
                           usage), reachable only with the token in this file (32 characters or more,
                           read once, never printed); see docs/admin.md. Without it /admin/ is an API path
  --upstream-timeout MS    longest upstream silence before 504 (default: $FINORA_AUTH_UPSTREAM_TIMEOUT_MS, else 30000)
  --metrics WHERE          on (the serving port), off, PORT or HOST:PORT (a listener of its own)
                           (default: $FINORA_AUTH_METRICS, else on)
  --access-log WHERE       stdout, stderr or off: one JSON line per request (default: $FINORA_AUTH_ACCESS_LOG, else stdout)
  --max-header-size BYTES  larger request heads get 431 (default: 16384)
  --max-body-size BYTES    larger demo API bodies get 413 (default: 1048576)
  --shutdown-timeout MS    on SIGTERM/SIGINT, wait this long for requests in flight (default: 10000)
  --throttle-failures N    answer 429 to a client address after N failed authentications (401) in a window
                           (default: $FINORA_AUTH_THROTTLE_FAILURES, else 0: off; the address is the TCP peer's,
                           so leave it off behind a load balancer)
  --throttle-window MS     that window, from the address's first failure (default: 60000)
  --seed, --no-seed        create a demo account and key when the store is empty
                           (default: only for sqlite stores; never for shared redis/postgres stores)
  -h, --help               show this help
`,

  accounts: `finora-auth accounts: manage accounts

Usage:
  finora-auth accounts set ACCOUNT_ID --tier free|premium|accountant_pro [--enterprise|--no-enterprise]
                           [--rate-limit N/SECONDS|none] [--json] [--store URL]
  finora-auth accounts list [--json] [--store URL]

Run "finora-auth accounts <command> --help" for details.
`,

  'accounts list': `finora-auth accounts list: every account in the store, by id

Usage:
  finora-auth accounts list [--json]

Options:
  --json                   print a JSON array
${STORE}
`,

  'accounts set': `finora-auth accounts set: create or update an account

Usage:
  finora-auth accounts set ACCOUNT_ID --tier free|premium|accountant_pro [--enterprise|--no-enterprise]
                           [--rate-limit N/SECONDS|none] [--json]

Only premium and accountant_pro accounts can hold keys. --enterprise provisions the account for enterprise
modules; when neither flag is given an existing account keeps its provisioning (a new one is not provisioned).
An existing account changes only in the fields given, atomically, so administrators working at the same
time never undo each other's changes. A running gateway on the same store honours the change within a second.

Options:
  --tier TIER              free, premium or accountant_pro (required)
  --enterprise             provision for enterprise modules
  --no-enterprise          withdraw enterprise provisioning
  --rate-limit N/SECONDS   at most N requests in any SECONDS seconds for each of the account's keys and service
                           accounts separately (a key's own limit overrides it); none removes it; when not given
                           an existing account keeps its limit. Over it: 429 RATE_LIMITED
  --json                   print the account as JSON
${STORE}
`,

  keys: `finora-auth keys: manage API keys

Usage:
  finora-auth keys create --account ACCOUNT_ID --env live|test [--surface retail|enterprise] [--name NAME]
                          [--scope SCOPE]... [--read-only] [--rate-limit N/SECONDS] [--json]
  finora-auth keys list --account ACCOUNT_ID [--json]
  finora-auth keys revoke KEY_ID [--json]
  finora-auth keys rotate KEY_ID [--json]
  finora-auth keys expiring [--within DAYS] [--json]

Run "finora-auth keys <command> --help" for details.
`,

  'keys create': `finora-auth keys create: issue a new API key

Usage:
  finora-auth keys create --account ACCOUNT_ID --env live|test [--surface retail|enterprise] [--name NAME]
                          [--scope SCOPE]... [--read-only] [--rate-limit N/SECONDS] [--json]

The key is printed once and never stored: only its SHA-256 digest is kept. It expires in 90 days.
Without --scope or --read-only the key has full access within its surface (scope write).

Options:
  --account ID             the account (premium or accountant_pro) (required)
  --env ENV                live (real, billable data) or test (staging data) (required)
  --surface SURFACE        retail (default) or enterprise (needs an enterprise-provisioned account)
  --name NAME              a label, e.g. the integration that will hold the key
  --scope SCOPE            limit what the key may do; repeat it, or separate scopes with commas. A scope is
                           read or write (every module), MODULE:read or MODULE:write (one catalog module);
                           write includes read. GET, HEAD and OPTIONS need read, every other method write.
  --read-only              the same as --scope read; not together with --scope (use MODULE:read scopes instead)
  --rate-limit N/SECONDS   this key's own limit, at most N requests in any SECONDS seconds, instead of its
                           account's (rotation keeps it). Over it: 429 RATE_LIMITED
  --json                   print {"apiKey": …, "key": …} as JSON
${STORE}
`,

  'keys list': `finora-auth keys list: list an account's keys (never the keys themselves)

Usage:
  finora-auth keys list --account ACCOUNT_ID [--json]

Each key is shown with its scopes (write: full access).

Options:
  --account ID             the account (required)
  --json                   print a JSON array
${STORE}
`,

  'keys revoke': `finora-auth keys revoke: revoke a key at once

Usage:
  finora-auth keys revoke KEY_ID [--json]

Requests with the key are refused with 401 INVALID_API_KEY from now on; a running gateway on the same store
honours the revocation within a second.

Options:
  --json                   print {"revoked": KEY_ID} as JSON
${STORE}
`,

  'keys rotate': `finora-auth keys rotate: issue a replacement for a key

Usage:
  finora-auth keys rotate KEY_ID [--json]

The new key has the same account, environment, surface, name and scopes. The old key keeps working until
you revoke it, so both can be deployed side by side during the cutover. A revoked key cannot be rotated:
create a new key instead.

Options:
  --json                   print {"apiKey": …, "key": …} as JSON
${STORE}
`,

  'keys expiring': `finora-auth keys expiring: keys that expire soon

Usage:
  finora-auth keys expiring [--within DAYS] [--json]

Options:
  --within DAYS            how far ahead to look (default: 14)
  --json                   print a JSON array
${STORE}
`,

  'service-accounts': `finora-auth service-accounts: manage OAuth 2.0 service accounts (client credentials)

Usage:
  finora-auth service-accounts create --account ACCOUNT_ID --env live|test [--name NAME] [--scope SCOPE]... [--json]
  finora-auth service-accounts list --account ACCOUNT_ID [--json]
  finora-auth service-accounts rotate CLIENT_ID [--json]
  finora-auth service-accounts revoke CLIENT_ID [--json]

A service account lets an enterprise integration exchange a client id and secret for short-lived tokens
(POST /oauth/token) instead of holding a long-lived key. Only enterprise-provisioned Premium or Accountant Pro
accounts may have them. Run "finora-auth service-accounts <command> --help" for details.
`,

  'service-accounts create': `finora-auth service-accounts create: create a service account and its client secret

Usage:
  finora-auth service-accounts create --account ACCOUNT_ID --env live|test [--name NAME] [--scope SCOPE]... [--json]

The client secret is printed once and never stored: only its SHA-256 digest is kept. It expires in 90 days.
The account must be enterprise-provisioned (finora-auth accounts set ACCOUNT_ID --tier premium --enterprise).

Options:
  --account ID             the account (premium or accountant_pro, enterprise-provisioned) (required)
  --env ENV                live (real, billable data) or test (staging data) (required)
  --name NAME              a label, e.g. the integration that will hold the secret
  --scope SCOPE            limit what its tokens may do, as for keys create: read, write, MODULE:read or
                           MODULE:write; repeat it or separate with commas (default: full access, write)
  --json                   print {"clientId": …, "clientSecret": …, "serviceAccount": …} as JSON
${STORE}
`,

  'service-accounts list': `finora-auth service-accounts list: list an account's service accounts (never their secrets)

Usage:
  finora-auth service-accounts list --account ACCOUNT_ID [--json]

Options:
  --account ID             the account (required)
  --json                   print a JSON array
${STORE}
`,

  'service-accounts rotate': `finora-auth service-accounts rotate: give a service account a new client secret

Usage:
  finora-auth service-accounts rotate CLIENT_ID [--json]

The new secret is printed once. The old secret stops working at once, and so does every token issued under
it, so deploy the new secret right away: until then the integration cannot get tokens.

Options:
  --json                   print {"clientSecret": …, "serviceAccount": …} as JSON
${STORE}
`,

  'service-accounts revoke': `finora-auth service-accounts revoke: revoke a service account at once

Usage:
  finora-auth service-accounts revoke CLIENT_ID [--json]

Its secret and every token already issued to it are refused from now on.

Options:
  --json                   print {"revoked": CLIENT_ID} as JSON
${STORE}
`,

  'signing-keys': `finora-auth signing-keys: the keys that sign OAuth access tokens

Usage:
  finora-auth signing-keys list [--secret-file PATH] [--json]
  finora-auth signing-keys rotate [--secret-file PATH] [--json]

Run "finora-auth signing-keys <command> --help" for details.
`,

  'signing-keys list': `finora-auth signing-keys list: the signing keys in the store (never their private parts)

Usage:
  finora-auth signing-keys list [--secret-file PATH] [--json]

The signing key signs new tokens; retired keys stay published at /.well-known/jwks.json while tokens they
signed may still be valid.

Options:
${SECRET}
  --json                   print a JSON array (public keys as JWKs)
${STORE}
`,

  'signing-keys rotate': `finora-auth signing-keys rotate: make a new signing key and retire the others

Usage:
  finora-auth signing-keys rotate [--secret-file PATH] [--json]

New tokens are signed with the new key; tokens signed before stay valid until they expire, because the
retired keys stay published until then. Refused when the operator secret cannot open the key that signs now.

Options:
${SECRET}
  --json                   print the new key as JSON
${STORE}
`,

  credits: `finora-auth credits: an account's credits

Usage:
  finora-auth credits grant ACCOUNT_ID AMOUNT [--json]
  finora-auth credits show ACCOUNT_ID [--json]
  finora-auth credits refill ACCOUNT_ID --amount N --every day|month [--json]
  finora-auth credits refill ACCOUNT_ID --none [--json]
  finora-auth credits unmeter ACCOUNT_ID [--json]

An account granted credits is metered: each allowed request of its live keys and service accounts costs a
credit, and at none left it is refused with 402 CREDITS_EXHAUSTED. Test credentials never spend credits.
Gateways take credits in small leases, so a balance shown here may be a few hundred below what has been
spent; leases are given back when a gateway stops. A refill sets the balance to AMOUNT once every UTC day or
month (first at the next request). unmeter ends metering: requests cost nothing; usage is still counted.

Options:
  --json                   print the result as JSON
${STORE}
`,

  'credits grant': `finora-auth credits grant: add credits to an account (making it metered)

Usage:
  finora-auth credits grant ACCOUNT_ID AMOUNT [--json]

AMOUNT is a whole number of credits, 1 or more. Its live requests spend credits from now on.

Options:
  --json                   print {"accountId", "granted", "balance"} as JSON
${STORE}
`,

  'credits show': `finora-auth credits show: an account's balance and refill

Usage:
  finora-auth credits show ACCOUNT_ID [--json]

Options:
  --json                   print {"accountId", "metered", "balance", "refill"?} as JSON
${STORE}
`,

  'credits refill': `finora-auth credits refill: set or stop a metered account's refill

Usage:
  finora-auth credits refill ACCOUNT_ID --amount N --every day|month [--json]
  finora-auth credits refill ACCOUNT_ID --none [--json]

The balance is set to N once per UTC day or month, however many gateways share the store.

Options:
  --amount N               the balance each period starts with (a whole number, 1 or more)
  --every PERIOD           day or month (UTC)
  --none                   stop refilling (the balance stays as it is)
  --json                   print the account's credits as JSON
${STORE}
`,

  'credits unmeter': `finora-auth credits unmeter: stop metering an account

Usage:
  finora-auth credits unmeter ACCOUNT_ID [--json]

Its balance and refill are dropped, and its requests cost no credits; usage is still counted.

Options:
  --json                   print {"accountId", "metered": false} as JSON
${STORE}
`,

  usage: `finora-auth usage: an account's allowed requests per UTC day, credential, environment and module

Usage:
  finora-auth usage ACCOUNT_ID [--since DATE] [--until DATE] [--json]

Counts reach the store in batches (within about a second, and when a gateway stops).

Options:
  --since DATE             first UTC day, YYYY-MM-DD (default: 29 days before --until)
  --until DATE             last UTC day, YYYY-MM-DD (default: today)
  --json                   print a JSON array of {"day", "keyId", "environment", "module"?, "allowed", "creditsSpent"}
${STORE}
`,

  store: `finora-auth store: move between stores

Usage:
  finora-auth store copy --from URL --to URL [--json]

See: finora-auth store copy --help
`,

  'store copy': `finora-auth store copy: copy everything from one store to another, without reissuing a key

Usage:
  finora-auth store copy --from URL --to URL [--json]

Copies accounts (with rate limits and credits), keys (digests only, with scopes, rate limits and revocations),
service accounts (secret digests), signing keys (still sealed) and usage. Safe to run twice: a row the target
holds alike is skipped and tells no gateway anything; a revocation or retirement made in the source since is
carried over; a row the target holds otherwise is left as it is and reported. The counts are verified at the end.
Exit status 0 when everything is in the target, 1 otherwise. See docs/store-copy.md.

Options:
  --from URL               the store to read: sqlite:PATH, redis://…, postgres://…
  --to URL                 the store to write (its tables are created when missing)
  --json                   print the tallies, conflicts and verified counts as JSON
`,
};

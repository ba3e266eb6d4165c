// The admin console (`serve --admin-token-file`): login, sessions, CSRF checks and the routes of /admin/.

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createKeyManager,
  KeyManagerError,
  type Account,
  type CreditsInfo,
  type KeyManager,
  type KeyStore,
  type ServiceAccountInfo,
  type Tier,
} from '@finora-auth/core';
import { FailureThrottle } from '../throttle';
import { SCRIPT, STYLESHEET } from './assets';
import { CSRF_FIELD, sameOrigin, validToken } from './csrf';
import { html } from './escape';
import { cookie, FormError, overTls, readForm, redirect, send } from './http';
import { ONCE_FIELD, UsedForms, type FormOutcome } from './once';
import {
  accountPage,
  accountsPage,
  alreadyPage,
  confirmPage,
  expiringPage,
  loginPage,
  messagePage,
  revealPage,
  seg,
  type AccountPageInput,
  type KeyFormValues,
} from './pages';
import { sameSecret, Sessions, sha256, type Session, type SessionOptions } from './session';
import { usageChart } from './usage-chart';

export { escapeHtml } from './escape';
export { CONTENT_SECURITY_POLICY } from './http';

const COOKIE = 'finora_admin';
const TIERS: readonly string[] = ['free', 'premium', 'accountant_pro'];
const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const EXPIRING_DAYS = 14;
/** Days of usage an account's chart shows, today included. */
const USAGE_DAYS = 30;
/** The shortest admin token accepted: a guessable one would make the console the weakest door. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

export interface AdminConsoleOptions {
  /** The store the console administers (the gateway's own). Required. */
  store: KeyStore;
  /** The admin token (at least 32 characters); only its SHA-256 is kept. Required. */
  token: string;
  /** Clock in epoch ms, for sessions, the login throttle and key dates. Default: `Date.now`. */
  now?: () => number;
  /** Passed to the key manager. Default: the core's (90). */
  keyTtlDays?: number;
  /** Session lifetimes and bound. Default: 30 min idle, 12 h absolute, 1,000 sessions. */
  sessions?: SessionOptions;
  /** Failed logins one client address may make within `windowMs` before it gets 429. Default: 5 per 15 minutes. */
  loginThrottle?: { failures?: number; windowMs?: number };
}

export interface AdminConsole {
  /** True for the request targets the console answers: `/admin` and everything under `/admin/`. */
  owns(target: string | undefined): boolean;
  /** Answers a request `owns` accepted. Never throws; a store fault is a 503 page. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}


interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  session: Session;
  sessionId: string;
  form: URLSearchParams;
}

function field(form: URLSearchParams, name: string): string {
  return (form.get(name) ?? '').trim();
}

function parseScopes(text: string): string[] | undefined {
  const scopes = text.split(/[\s,]+/).filter((scope) => scope.length > 0);
  return scopes.length === 0 ? undefined : scopes;
}

/** The message a key-manager refusal shows; anything else is a fault, never shown in detail. */
function refusal(error: unknown): string | undefined {
  if (error instanceof KeyManagerError) {
    switch (error.code) {
      case 'PREMIUM_REQUIRED':
        return 'Free accounts cannot be given keys: change the tier to Premium or Accountant Pro first.';
      case 'ENTERPRISE_ONLY':
        return 'Only an enterprise-provisioned account can have enterprise keys or service accounts.';
      case 'INVALID_SCOPE':
        return `${error.message.replace(/^finora-auth: /, '')}.`;
      case 'KEY_REVOKED':
        return 'That key is revoked: a revoked key cannot be rotated. Generate a new one instead.';
      case 'SERVICE_ACCOUNT_REVOKED':
        return 'That service account is revoked.';
      case 'NOT_SUPPORTED':
        return 'This store does not support that.';
      default:
        return error.message.replace(/^finora-auth: /, '');
    }
  }
  return undefined;
}

/** The key manager's answer, or the sentence a person reads for its refusal; a fault (the store down) is rethrown. */
async function attempt<T>(work: Promise<T>): Promise<{ value: T } | { refused: string }> {
  try {
    return { value: await work };
  } catch (error) {
    const message = refusal(error);
    if (message === undefined) throw error;
    return { refused: message };
  }
}

export function createAdminConsole(options: AdminConsoleOptions): AdminConsole {
  if (typeof options.token !== 'string' || options.token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new TypeError(`finora-auth: admin console option token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
  }
  const store = options.store;
  const now = options.now ?? Date.now;
  const tokenDigest = sha256(options.token);
  const manager: KeyManager = createKeyManager({
    store,
    now,
    ...(options.keyTtlDays !== undefined ? { keyTtlDays: options.keyTtlDays } : {}),
  });
  const sessions = new Sessions(options.sessions ?? {}, now);
  const throttle = new FailureThrottle(
    { failures: options.loginThrottle?.failures ?? 5, windowMs: options.loginThrottle?.windowMs ?? 15 * 60_000, maxClients: 10_000 },
    now,
  );

  function sessionCookie(req: IncomingMessage, value: string, maxAge: number): string {
    return `${COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/admin/; Max-Age=${maxAge}${overTls(req) ? '; Secure' : ''}`;
  }

  /** `undefined` (not an error) when the store lacks the v2 method behind `call`. */
  async function optional<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof KeyManagerError && error.code === 'NOT_SUPPORTED') return undefined;
      throw error;
    }
  }

  async function listAccounts(): Promise<Account[] | undefined> {
    const accounts = await optional(() => manager.listAccounts());
    return accounts && [...accounts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  function creditsText(info: CreditsInfo): string {
    return info.metered ? `${info.balance ?? 0}` : 'unmetered';
  }

  /** Each metered account's balance, for the accounts page; `undefined` when the store keeps no credits. */
  async function balances(accounts: Account[] | undefined): Promise<Map<string, string> | undefined> {
    if (!accounts || typeof store.getCredits !== 'function') return undefined;
    const texts = new Map<string, string>();
    await Promise.all(
      accounts.map(async (account) => texts.set(account.id, account.metered ? creditsText(await manager.credits(account.id)) : 'unmetered')),
    );
    return texts;
  }

  async function accountsView(session: Session, extra: Partial<Parameters<typeof accountsPage>[0]> = {}): Promise<string> {
    const accounts = await listAccounts();
    const credits = await balances(accounts);
    return accountsPage({ csrf: session.csrf, accounts, ...(credits ? { credits } : {}), ...extra });
  }

  async function creditsView(account: Account, amount?: string): Promise<AccountPageInput['credits']> {
    const info = await optional(() => manager.credits(account.id));
    if (!info) return undefined;
    const until = new Date(now());
    const rows = await optional(() => manager.usage(account.id, { since: new Date(until.getTime() - (USAGE_DAYS - 1) * 86_400_000), until }));
    return {
      text: creditsText(info),
      ...(rows ? { chart: usageChart(rows, USAGE_DAYS, now()) } : {}),
      ...(amount !== undefined ? { amount } : {}),
    };
  }

  async function listServiceAccounts(accountId: string): Promise<ServiceAccountInfo[] | undefined> {
    if (typeof store.listServiceAccounts !== 'function') return undefined;
    return manager.listServiceAccounts(accountId);
  }

  async function renderAccount(
    ctx: { res: ServerResponse; session: Session },
    account: Account,
    extra: Partial<AccountPageInput> = {},
    status = 200,
  ): Promise<void> {
    const [keys, serviceAccounts, credits] = await Promise.all([
      manager.list(account.id),
      listServiceAccounts(account.id),
      creditsView(account, extra.credits?.amount),
    ]);
    const notice = extra.notice ?? ctx.session.flash;
    delete ctx.session.flash;
    send(
      ctx.res,
      status,
      accountPage({
        csrf: ctx.session.csrf,
        account,
        keys,
        serviceAccounts,
        now: now(),
        ...extra,
        ...(credits ? { credits } : {}),
        ...(notice !== undefined ? { notice } : {}),
      }),
    );
  }

  async function accountOr404(ctx: { res: ServerResponse; session: Session }, id: string): Promise<Account | undefined> {
    const account = ID.test(id) ? await store.getAccount(id) : null;
    if (account) return account;
    send(ctx.res, 404, messagePage({ csrf: ctx.session.csrf, title: 'No such account', message: `There is no account "${id}".` }));
    return undefined;
  }

  /** Without `confirm=yes`, answers the confirmation page and returns false. */
  function confirmed(ctx: Ctx, action: string, question: string, button: string, back: string): boolean {
    if (field(ctx.form, 'confirm') === 'yes') return true;
    const once = ctx.form.get(ONCE_FIELD);
    send(ctx.res, 200, confirmPage({ csrf: ctx.session.csrf, action, question, back, button, ...(UsedForms.valid(once) ? { once } : {}) }));
    return false;
  }

  function at(): string {
    return `${new Date(now()).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  }

  /**
   * Runs a creating action at most once per form nonce. `act` answers the request and returns what it made, or
   * `undefined` when it made nothing (then the same form may be sent again). A form sent again after it made
   * something gets a page saying what, never the secret; one sent while the first is still being handled waits
   * for it. A store fault leaves the form spent, since whether the store made something is unknown.
   */
  async function once(ctx: Ctx, account: Account, act: () => Promise<FormOutcome | undefined>): Promise<void> {
    const nonce = ctx.form.get(ONCE_FIELD);
    const forms = ctx.session.forms;
    const spent = (title: string, message: string) =>
      send(ctx.res, 409, alreadyPage({ csrf: ctx.session.csrf, accountId: account.id, title, message }));
    if (!UsedForms.valid(nonce)) {
      send(
        ctx.res,
        400,
        alreadyPage({
          csrf: ctx.session.csrf,
          accountId: account.id,
          title: 'Form out of date',
          message: 'This form has no one-time field, so sending it twice could make two of what it makes. Nothing was done: open the account again and use its form.',
        }),
      );
      return;
    }
    for (;;) {
      const previous = forms.claim(nonce);
      if (!previous) break;
      if (previous.state === 'pending') {
        await previous.finished;
        continue;
      }
      if (previous.state === 'done') return spent(previous.outcome.title, previous.outcome.message);
      return spent(
        'Already sent',
        'This form was sent before and the key store did not answer then, so it may or may not have taken effect. Nothing was done now: open the account to see, and use a fresh form there.',
      );
    }
    let outcome: FormOutcome | undefined;
    try {
      outcome = await act();
    } catch (error) {
      forms.fault(nonce);
      throw error;
    }
    if (outcome) forms.done(nonce, outcome);
    else forms.release(nonce);
  }

  function done(ctx: Ctx, accountId: string, message: string): void {
    ctx.session.flash = message;
    redirect(ctx.res, `/admin/accounts/${seg(accountId)}`);
  }

  // ---- GET pages --------------------------------------------------------------------------------------------

  async function getPage(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const sessionId = cookie(req, COOKIE);
    const session = sessions.get(sessionId);
    if (!session) {
      send(res, path === '/admin/' ? 200 : 401, loginPage());
      return;
    }
    const ctx = { res, session };
    if (path === '/admin/') {
      const notice = session.flash;
      delete session.flash;
      send(res, 200, await accountsView(session, notice ? { notice } : {}));
      return;
    }
    if (path === '/admin/open') {
      const id = (query.get('account') ?? '').trim();
      redirect(res, `/admin/accounts/${seg(id)}`);
      return;
    }
    if (path === '/admin/expiring') {
      send(res, 200, expiringPage({ csrf: session.csrf, keys: await manager.expiring(EXPIRING_DAYS), days: EXPIRING_DAYS, now: now() }));
      return;
    }
    const match = /^\/admin\/accounts\/([^/]+)$/.exec(path);
    if (match) {
      const account = await accountOr404(ctx, match[1] as string);
      if (account) await renderAccount(ctx, account);
      return;
    }
    send(res, 404, messagePage({ csrf: session.csrf, title: 'Not found', message: 'There is no such console page.' }));
  }

  // ---- POST actions -----------------------------------------------------------------------------------------

  async function login(req: IncomingMessage, res: ServerResponse, form: URLSearchParams): Promise<void> {
    const client = req.socket.remoteAddress ?? 'unknown';
    const wait = throttle.retryAfter(client);
    if (wait > 0) {
      send(res, 429, loginPage(`Too many failed logins from this address. Try again in ${wait} seconds.`), { 'Retry-After': String(wait) });
      return;
    }
    if (!sameSecret(form.get('token') ?? '', tokenDigest)) {
      throttle.fail(client);
      send(res, 401, loginPage('That is not the admin token.'));
      return;
    }
    sessions.end(cookie(req, COOKIE));
    const { id } = sessions.create();
    redirect(res, '/admin/', { 'Set-Cookie': sessionCookie(req, id, sessions.maxAgeSeconds) });
  }

  async function createAccount(ctx: Ctx): Promise<void> {
    const id = field(ctx.form, 'id');
    const tier = field(ctx.form, 'tier');
    const enterprise = ctx.form.get('enterprise') === 'yes';
    const again = async (error: string) =>
      send(ctx.res, 400, await accountsView(ctx.session, { form: { id, tier, enterprise }, error }));
    if (!ID.test(id)) return again('An account id is 1-128 letters, digits and . _ : @ -, starting with a letter or digit.');
    if (!TIERS.includes(tier)) return again('Choose a tier.');
    if (await store.getAccount(id)) return again(`Account "${id}" already exists: change it on its page.`);
    await manager.putAccount({ id, tier: tier as Tier, enterprise });
    done(ctx, id, `Account ${id} created.`);
  }

  async function changeSettings(ctx: Ctx, account: Account): Promise<void> {
    const tier = field(ctx.form, 'tier');
    const enterprise = ctx.form.get('enterprise') === 'yes';
    if (!TIERS.includes(tier)) {
      return renderAccount(ctx, account, { error: 'Choose a tier.', settingsForm: { tier: account.tier, enterprise } }, 400);
    }
    if (field(ctx.form, 'confirm') !== 'yes') {
      // Changes that make working credentials fail need a second, deliberate step.
      const valid = (await manager.list(account.id)).filter((key) => !key.revokedAt && key.expiresAt.getTime() > now());
      const warnings: string[] = [];
      if (tier === 'free' && account.tier !== 'free' && valid.length > 0) {
        warnings.push(`This account has ${valid.length} valid key${valid.length === 1 ? '' : 's'}: on Free they are all refused (403 PREMIUM_REQUIRED).`);
      }
      const enterpriseKeys = valid.filter((key) => key.surface === 'enterprise').length;
      const services = account.enterprise && !enterprise ? ((await listServiceAccounts(account.id)) ?? []).filter((sa) => !sa.revokedAt).length : 0;
      if (account.enterprise && !enterprise && enterpriseKeys + services > 0) {
        warnings.push(
          `Without enterprise provisioning its ${enterpriseKeys} enterprise key${enterpriseKeys === 1 ? '' : 's'} and ${services} service account${services === 1 ? '' : 's'} are refused for enterprise modules (403 ENTERPRISE_ONLY).`,
        );
      }
      if (warnings.length > 0) {
        return renderAccount(
          ctx,
          account,
          { error: `${warnings.join(' ')} Tick the confirmation to save anyway.`, settingsForm: { tier, enterprise, needsConfirm: true } },
          409,
        );
      }
    }
    await manager.updateAccount(account.id, { tier: tier as Tier, enterprise });
    done(ctx, account.id, 'Tier and provisioning saved.');
  }

  function keyInput(form: URLSearchParams): KeyFormValues & { name: string; environment: string; surface: string; scopes: string } {
    return {
      name: field(form, 'name'),
      environment: field(form, 'environment'),
      surface: field(form, 'surface') || 'retail',
      scopes: field(form, 'scopes'),
    };
  }

  async function generateKey(ctx: Ctx, account: Account): Promise<FormOutcome | undefined> {
    const input = keyInput(ctx.form);
    const again = async (error: string) => void (await renderAccount(ctx, account, { error, keyForm: input }, 400));
    if (!input.name) return again('Give the key a name: the integration that will use it.');
    if (input.environment !== 'live' && input.environment !== 'test') return again('Choose live or test.');
    if (input.surface !== 'retail' && input.surface !== 'enterprise') return again('Choose retail or enterprise.');
    const scopes = parseScopes(input.scopes);
    const outcome = await attempt(
      manager.issue({
        accountId: account.id,
        environment: input.environment,
        surface: input.surface,
        name: input.name,
        ...(scopes ? { scopes } : {}),
      }),
    );
    if ('refused' in outcome) return again(outcome.refused);
    const issued = outcome.value;
    const { key } = issued;
    send(
      ctx.res,
      200,
      revealPage({
        csrf: ctx.session.csrf,
        accountId: account.id,
        kind: 'key',
        secret: issued.apiKey,
        label: html`Key “${key.name ?? ''}” (${key.environment}, ${key.surface}) for ${account.id}`,
        now: now(),
      }),
    );
    return {
      accountId: account.id,
      title: 'Key already created',
      message: `This form already created key “${key.name ?? ''}” (${key.hint}, ${key.environment}) at ${at()}; no second key was made. The key is not shown again: finora-auth keeps only its digest. If it was not stored, revoke it on the account's page and generate another.`,
    };
  }

  async function keyAction(ctx: Ctx, account: Account, keyId: string, action: string): Promise<void> {
    const key = ID.test(keyId) ? await store.getKey(keyId) : null;
    if (!key || key.accountId !== account.id) {
      send(ctx.res, 404, messagePage({ csrf: ctx.session.csrf, title: 'No such key', message: 'That key is not one of this account’s.' }));
      return;
    }
    const path = `/admin/accounts/${seg(account.id)}/keys/${seg(keyId)}/${action}`;
    const back = `/admin/accounts/${seg(account.id)}`;
    const label = key.name ? `“${key.name}” (${key.hint})` : key.hint;
    if (action === 'revoke') {
      if (!confirmed(ctx, path, `Revoke key ${label}? Requests with it are refused at once.`, 'Revoke key', back)) return;
      await manager.revoke(keyId);
      return done(ctx, account.id, `Key ${label} revoked.`);
    }
    return once(ctx, account, async () => {
      if (!confirmed(ctx, path, `Rotate key ${label}? A new key like it is made; this one stays valid until you revoke it.`, 'Rotate key', back)) return undefined;
      return rotateKey(ctx, account, keyId, key.hint);
    });
  }

  async function rotateKey(ctx: Ctx, account: Account, keyId: string, hint: string): Promise<FormOutcome | undefined> {
    const outcome = await attempt(manager.rotate(keyId));
    if ('refused' in outcome) {
      await renderAccount(ctx, account, { error: outcome.refused }, 409);
      return undefined;
    }
    const issued = outcome.value;
    const old = (await manager.list(account.id)).find((info) => info.id === keyId);
    send(
      ctx.res,
      200,
      revealPage({
        csrf: ctx.session.csrf,
        accountId: account.id,
        kind: 'key',
        secret: issued.apiKey,
        label: html`Key “${issued.key.name ?? ''}” (${issued.key.environment}, ${issued.key.surface}), replacing ${hint}`,
        ...(old ? { old } : {}),
        now: now(),
      }),
    );
    return {
      accountId: account.id,
      title: 'Key already rotated',
      message: `This form already rotated key ${hint} at ${at()}: the new key is ${issued.key.hint}; no third key was made. The new key is not shown again: finora-auth keeps only its digest. If it was not stored, revoke it on the account's page and rotate again.`,
    };
  }

  async function createServiceAccount(ctx: Ctx, account: Account): Promise<FormOutcome | undefined> {
    const input = keyInput(ctx.form);
    const again = async (error: string) => void (await renderAccount(ctx, account, { error, serviceForm: input }, 400));
    if (!input.name) return again('Give the service account a name: the integration that will use it.');
    if (input.environment !== 'live' && input.environment !== 'test') return again('Choose live or test.');
    const scopes = parseScopes(input.scopes);
    const outcome = await attempt(
      manager.createServiceAccount({
        accountId: account.id,
        environment: input.environment,
        name: input.name,
        ...(scopes ? { scopes } : {}),
      }),
    );
    if ('refused' in outcome) return again(outcome.refused);
    const made = outcome.value;
    send(
      ctx.res,
      200,
      revealPage({
        csrf: ctx.session.csrf,
        accountId: account.id,
        kind: 'secret',
        secret: made.clientSecret,
        label: html`Service account “${made.serviceAccount.name ?? ''}”, client id <code>${made.clientId}</code>`,
        now: now(),
      }),
    );
    return {
      accountId: account.id,
      title: 'Service account already created',
      message: `This form already created service account ${made.clientId} at ${at()}; no second one was made. Its client secret is not shown again: finora-auth keeps only its digest. If it was not stored, rotate the secret on the account's page.`,
    };
  }

  async function serviceAccountAction(ctx: Ctx, account: Account, clientId: string, action: string): Promise<void> {
    const serviceAccount = ID.test(clientId) ? (await listServiceAccounts(account.id))?.find((sa) => sa.clientId === clientId) : undefined;
    if (!serviceAccount) {
      send(ctx.res, 404, messagePage({ csrf: ctx.session.csrf, title: 'No such service account', message: 'That service account is not one of this account’s.' }));
      return;
    }
    const path = `/admin/accounts/${seg(account.id)}/service-accounts/${seg(clientId)}/${action}`;
    const back = `/admin/accounts/${seg(account.id)}`;
    if (action === 'revoke') {
      if (!confirmed(ctx, path, `Revoke service account ${clientId}? Its tokens are refused at once.`, 'Revoke service account', back)) return;
      await manager.revokeServiceAccount(clientId);
      return done(ctx, account.id, `Service account ${clientId} revoked.`);
    }
    return once(ctx, account, async () => {
      if (!confirmed(ctx, path, `Make a new secret for ${clientId}? The old secret and its tokens stop working.`, 'Rotate secret', back)) return undefined;
      return rotateSecret(ctx, account, clientId);
    });
  }

  async function rotateSecret(ctx: Ctx, account: Account, clientId: string): Promise<FormOutcome | undefined> {
    const outcome = await attempt(manager.rotateServiceAccountSecret(clientId));
    if ('refused' in outcome) {
      await renderAccount(ctx, account, { error: outcome.refused }, 409);
      return undefined;
    }
    const made = outcome.value;
    send(
      ctx.res,
      200,
      revealPage({
        csrf: ctx.session.csrf,
        accountId: account.id,
        kind: 'secret',
        secret: made.clientSecret,
        label: html`New secret for service account <code>${clientId}</code>`,
        now: now(),
      }),
    );
    return {
      accountId: account.id,
      title: 'Secret already rotated',
      message: `This form already made a new secret (${made.serviceAccount.secretHint}) for service account ${clientId} at ${at()}; no further secret was made. It is not shown again: finora-auth keeps only its digest. If it was not stored, rotate the secret again.`,
    };
  }

  async function grantCredits(ctx: Ctx, account: Account): Promise<FormOutcome | undefined> {
    const amount = field(ctx.form, 'amount');
    if (!/^[1-9][0-9]{0,11}$/.test(amount)) {
      await renderAccount(ctx, account, { error: 'Credits to grant: a whole number above 0.', credits: { text: '', amount } }, 400);
      return undefined;
    }
    const outcome = await attempt(manager.grantCredits(account.id, Number(amount)));
    if ('refused' in outcome) {
      await renderAccount(ctx, account, { error: outcome.refused, credits: { text: '', amount } }, 400);
      return undefined;
    }
    const { balance } = outcome.value;
    done(ctx, account.id, `Granted ${amount} credits: the balance is ${balance}.`);
    return {
      accountId: account.id,
      title: 'Credits already granted',
      message: `This form already granted ${amount} credits at ${at()} (the balance was then ${balance}); nothing was granted again.`,
    };
  }

  async function post(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (!sameOrigin(req)) {
      req.resume();
      send(res, 403, messagePage({ title: 'Refused', message: 'This form was sent from another site.' }));
      return;
    }
    const form = await readForm(req);
    if (path === '/admin/login') return login(req, res, form);
    const sessionId = cookie(req, COOKIE);
    const session = sessions.get(sessionId);
    if (!session || sessionId === undefined) {
      send(res, 403, loginPage('Your session has ended: log in again.'));
      return;
    }
    if (!validToken(form.get(CSRF_FIELD) ?? undefined, session.csrf)) {
      send(res, 403, messagePage({ csrf: session.csrf, title: 'Refused', message: 'This form is stale or did not come from the console: reload the page and try again.' }));
      return;
    }
    const ctx: Ctx = { req, res, session, sessionId, form };
    if (path === '/admin/logout') {
      sessions.end(sessionId);
      redirect(res, '/admin/', { 'Set-Cookie': sessionCookie(req, '', 0) });
      return;
    }
    if (path === '/admin/accounts') return createAccount(ctx);
    const match = /^\/admin\/accounts\/([^/]+)\/(settings|credits|keys|service-accounts)(?:\/([^/]+)\/(revoke|rotate))?$/.exec(path);
    if (!match) {
      send(res, 404, messagePage({ csrf: session.csrf, title: 'Not found', message: 'There is no such console action.' }));
      return;
    }
    const [, accountId, what, itemId, action] = match as unknown as [string, string, string, string | undefined, string | undefined];
    const account = await accountOr404(ctx, accountId);
    if (!account) return;
    if (what === 'settings' && itemId === undefined) return changeSettings(ctx, account);
    if (what === 'credits' && itemId === undefined) return once(ctx, account, () => grantCredits(ctx, account));
    if (what === 'keys') {
      return itemId === undefined ? once(ctx, account, () => generateKey(ctx, account)) : keyAction(ctx, account, itemId, action as string);
    }
    if (what === 'service-accounts') {
      return itemId === undefined
        ? once(ctx, account, () => createServiceAccount(ctx, account))
        : serviceAccountAction(ctx, account, itemId, action as string);
    }
    send(res, 404, messagePage({ csrf: session.csrf, title: 'Not found', message: 'There is no such console action.' }));
  }

  function decodePath(raw: string): string | undefined {
    // Each segment decoded once; a dot segment or an encoded slash is no console path.
    const segments = raw.split('/').map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return undefined;
      }
    });
    if (segments.some((part, i) => part === undefined || part.includes('/') || ((part === '.' || part === '..') && i > 0))) return undefined;
    return segments.join('/');
  }

  return {
    owns(target) {
      if (target === undefined) return false;
      const path = target.split('?', 1)[0] as string;
      return path === '/admin' || path.startsWith('/admin/');
    },
    async handle(req, res) {
      try {
        const target = req.url ?? '/';
        const queryAt = target.indexOf('?');
        const raw = queryAt === -1 ? target : target.slice(0, queryAt);
        const query = new URLSearchParams(queryAt === -1 ? '' : target.slice(queryAt + 1));
        if (raw === '/admin') return redirect(res, '/admin/');
        const path = decodePath(raw);
        const method = req.method ?? 'GET';
        if (path === '/admin/assets/admin.css' || path === '/admin/assets/admin.js') {
          if (method !== 'GET' && method !== 'HEAD') return send(res, 405, '', { Allow: 'GET, HEAD' }, 'text/plain; charset=utf-8');
          const css = path.endsWith('.css');
          return send(res, 200, css ? STYLESHEET : SCRIPT, {}, css ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8');
        }
        if (path === undefined) return send(res, 404, messagePage({ title: 'Not found', message: 'There is no such console page.' }));
        if (method === 'GET' || method === 'HEAD') return await getPage(req, res, path, query);
        if (method === 'POST') return await post(req, res, path);
        req.resume();
        send(res, 405, messagePage({ title: 'Not allowed', message: 'The console answers GET and POST only.' }), { Allow: 'GET, HEAD, POST' });
      } catch (error) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (error instanceof FormError) {
          send(res, error.status, messagePage({ title: 'Refused', message: error.message }));
          return;
        }
        // A store fault: nothing about it goes into the page (it could carry connection details).
        send(res, 503, messagePage({ title: 'Store unavailable', message: 'The key store did not answer. Try again in a moment.' }), { 'Retry-After': '1' });
      }
    },
  };
}

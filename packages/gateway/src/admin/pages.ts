// The console's pages, rendered on the server: every value goes through the `html` tag's escaping.

import type { Account, KeyInfo, ServiceAccountInfo } from '@finora-auth/core';
import { CSRF_FIELD } from './csrf';
import { html, type SafeHtml } from './escape';
import { newNonce, ONCE_FIELD } from './once';

const TIER_LABEL: Readonly<Record<string, string>> = { free: 'Free', premium: 'Premium', accountant_pro: 'Accountant Pro' };

/** Where a path segment (account, key or client id) goes into a link. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

function when(date: Date | undefined): string {
  return date ? `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '';
}

function csrfField(csrf: string): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrf}">`;
}

/** The one-time nonce of a form that creates something: a fresh one, or the one a confirmation carries on. */
function onceField(nonce: string = newNonce()): SafeHtml {
  return html`<input type="hidden" name="${ONCE_FIELD}" value="${nonce}">`;
}

export function layout(input: { title: string; csrf?: string; body: SafeHtml }): string {
  const nav = input.csrf
    ? html`<nav aria-label="Console">
        <a href="/admin/">Accounts</a>
        <a href="/admin/expiring">Expiring keys</a>
        <form class="inline" method="post" action="/admin/logout">${csrfField(input.csrf)}<button class="link" type="submit">Log out</button></form>
      </nav>`
    : html``;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${input.title} · finora-auth admin</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
<script src="/admin/assets/admin.js" defer></script>
</head>
<body>
<header><span class="brand">finora-auth admin</span>${nav}</header>
<main id="main">
${input.body}
</main>
</body>
</html>
`.value;
}

function messages(input: { error?: string | undefined; notice?: string | undefined }): SafeHtml {
  return html`${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}${
    input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''
  }`;
}

export function loginPage(error?: string): string {
  return layout({
    title: 'Log in',
    body: html`<h1>Log in</h1>
${messages({ error })}
<section>
<form method="post" action="/admin/login">
  <div class="row">
    <label for="token">Admin token<input id="token" name="token" type="password" autocomplete="current-password" required autofocus></label>
    <button type="submit">Log in</button>
  </div>
  <p class="hint">The token is in the file given to <code>finora-auth serve --admin-token-file</code>.</p>
</form>
</section>`,
  });
}

function tierOptions(selected: string): SafeHtml[] {
  return Object.entries(TIER_LABEL).map(
    ([value, label]) => html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`,
  );
}

export interface AccountFormValues {
  id?: string;
  tier?: string;
  enterprise?: boolean;
}

export function accountsPage(input: {
  csrf: string;
  accounts: Account[] | undefined;
  credits?: Map<string, string>;
  form?: AccountFormValues;
  error?: string;
  notice?: string;
}): string {
  const form = input.form ?? {};
  const list = input.accounts
    ? input.accounts.length === 0
      ? html`<p>No accounts yet: create the first one below.</p>`
      : html`<div class="table-wrap"><table class="stack">
<thead><tr><th scope="col">Account</th><th scope="col">Tier</th><th scope="col">Enterprise provisioning</th>${
          input.credits ? html`<th scope="col">Credits</th>` : ''
        }</tr></thead>
<tbody>${input.accounts.map(
          (account) => html`<tr><td data-label="Account" class="name"><a href="/admin/accounts/${seg(account.id)}">${account.id}</a></td><td data-label="Tier">${
            TIER_LABEL[account.tier] ?? account.tier
          }</td><td data-label="Enterprise">${account.enterprise ? 'Provisioned' : 'No'}</td>${
            input.credits ? html`<td data-label="Credits">${input.credits.get(account.id) ?? ''}</td>` : ''
          }</tr>`,
        )}</tbody></table></div>`
    : html`<p class="warn">This store cannot list its accounts (it has no <code>listAccounts</code>). Open an account by its id instead.</p>`;
  return layout({
    title: 'Accounts',
    csrf: input.csrf,
    body: html`<h1>Accounts</h1>
${messages(input)}
<section aria-labelledby="list-h"><h2 id="list-h">All accounts</h2>${list}
<form method="get" action="/admin/open" class="row spaced">
  <label for="open-id">Open an account by id<input id="open-id" name="account" type="text" required></label>
  <button class="secondary" type="submit">Open</button>
</form>
</section>
<section aria-labelledby="create-h"><h2 id="create-h">Create an account</h2>
<form method="post" action="/admin/accounts">${csrfField(input.csrf)}
  <div class="row">
    <label for="new-id">Account id<input id="new-id" name="id" type="text" required maxlength="128" value="${form.id ?? ''}"></label>
    <label for="new-tier">Tier<select id="new-tier" name="tier">${tierOptions(form.tier ?? 'premium')}</select></label>
    <label class="check"><input type="checkbox" name="enterprise" value="yes"${form.enterprise ? html` checked` : ''}> Enterprise provisioning</label>
    <button type="submit">Create account</button>
  </div>
  <p class="hint">Only Premium and Accountant Pro accounts may use the API; a Free account gets no keys.</p>
</form>
</section>`,
  });
}

export interface KeyFormValues {
  name?: string;
  environment?: string;
  surface?: string;
  scopes?: string;
}

export interface AccountPageInput {
  csrf: string;
  account: Account;
  keys: KeyInfo[];
  /** `undefined`: the store has no service accounts. */
  serviceAccounts: ServiceAccountInfo[] | undefined;
  now: number;
  keyForm?: KeyFormValues;
  serviceForm?: KeyFormValues;
  settingsForm?: { tier: string; enterprise: boolean; needsConfirm?: boolean };
  error?: string;
  notice?: string;
  /** Credits, when the store keeps them: the balance text, the usage chart and the grant form's last value. */
  credits?: { text: string; chart?: SafeHtml; amount?: string };
}

function keyState(key: { revokedAt?: Date; expiresAt: Date }, now: number): SafeHtml {
  if (key.revokedAt) return html`<span class="badge revoked">Revoked ${when(key.revokedAt)}</span>`;
  if (key.expiresAt.getTime() <= now) return html`<span class="badge revoked">Expired</span>`;
  return html`<span class="badge valid">Valid</span>`;
}

function confirmForm(action: string, csrf: string, label: string, question: string, className = 'danger', creates = false): SafeHtml {
  return html`<form class="inline" method="post" action="${action}" data-confirm="${question}">${csrfField(csrf)}${creates ? onceField() : ''}<button class="${className}" type="submit">${label}</button></form>`;
}

export function keyRows(accountId: string, keys: KeyInfo[], csrf: string, now: number): SafeHtml {
  return html`<div class="table-wrap"><table class="stack">
<thead><tr><th scope="col">Name</th><th scope="col">Env</th><th scope="col">Surface</th><th scope="col">Scopes</th><th scope="col">Hint</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
<tbody>${keys.map((key) => {
    const base = `/admin/accounts/${seg(accountId)}/keys/${seg(key.id)}`;
    const live = !key.revokedAt;
    return html`<tr data-key-id="${key.id}"><td data-label="Name" class="name"><span>${key.name ?? html`<span class="hint">(no name)</span>`}<code class="id">${key.id}</code></span></td><td data-label="Env"><span class="badge ${key.environment}">${key.environment}</span></td><td data-label="Surface">${key.surface}</td><td data-label="Scopes"><code>${key.scopes.join(' ')}</code></td><td data-label="Hint"><code>${key.hint}</code></td><td data-label="Created">${when(key.createdAt)}</td><td data-label="Expires">${when(key.expiresAt)}</td><td data-label="State">${keyState(key, now)}</td><td data-label="Actions">${
      live
        ? html`${confirmForm(`${base}/rotate`, csrf, 'Rotate', 'Make a new key like this one? This one stays valid until you revoke it.', 'secondary', true)} ${confirmForm(
            `${base}/revoke`,
            csrf,
            'Revoke',
            'Revoke this key? Requests with it are refused at once.',
          )}`
        : ''
    }</td></tr>`;
  })}</tbody></table></div>`;
}

function environmentSelect(id: string, selected: string | undefined): SafeHtml {
  return html`<label for="${id}">Environment<select id="${id}" name="environment">
<option value="live"${selected === 'live' ? html` selected` : ''}>live (production, billable)</option>
<option value="test"${selected !== 'live' ? html` selected` : ''}>test (staging, not billable)</option>
</select></label>`;
}

function generateSection(input: AccountPageInput): SafeHtml {
  const { account } = input;
  if (account.tier === 'free') {
    return html`<section aria-labelledby="gen-h"><h2 id="gen-h">Generate a key</h2>
<p class="warn" id="no-keys-reason">Free accounts cannot use the API, so this account cannot be given a key. Change its tier to Premium or Accountant Pro first.</p></section>`;
  }
  const form = input.keyForm ?? {};
  return html`<section aria-labelledby="gen-h"><h2 id="gen-h">Generate a key</h2>
<form method="post" action="/admin/accounts/${seg(account.id)}/keys">${csrfField(input.csrf)}${onceField()}
<div class="row">
  <label for="key-name">Name (one key per integration)<input id="key-name" name="name" type="text" required maxlength="200" value="${form.name ?? ''}"></label>
  ${environmentSelect('key-env', form.environment)}
  ${
    account.enterprise
      ? html`<label for="key-surface">Surface<select id="key-surface" name="surface">
<option value="retail"${form.surface !== 'enterprise' ? html` selected` : ''}>retail</option>
<option value="enterprise"${form.surface === 'enterprise' ? html` selected` : ''}>enterprise</option></select></label>`
      : html`<input type="hidden" name="surface" value="retail">`
  }
  <label for="key-scopes">Scopes<input id="key-scopes" name="scopes" type="text" value="${form.scopes ?? ''}" placeholder="full access" aria-describedby="scopes-hint"></label>
  <button type="submit">Generate Key</button>
</div>
<p class="hint" id="scopes-hint">Scopes, separated by spaces or commas: <code>read</code>, <code>write</code>, <code>&lt;module&gt;:read</code>, <code>&lt;module&gt;:write</code>. Empty: full access.</p>
</form></section>`;
}

function settingsSection(input: AccountPageInput): SafeHtml {
  const form = input.settingsForm ?? { tier: input.account.tier, enterprise: input.account.enterprise };
  return html`<section aria-labelledby="settings-h"><h2 id="settings-h">Tier and provisioning</h2>
<form method="post" action="/admin/accounts/${seg(input.account.id)}/settings">${csrfField(input.csrf)}
<div class="row">
  <label for="set-tier">Tier<select id="set-tier" name="tier">${tierOptions(form.tier)}</select></label>
  <label class="check"><input type="checkbox" name="enterprise" value="yes"${form.enterprise ? html` checked` : ''}> Enterprise provisioning</label>
  ${
    form.needsConfirm
      ? html`<label class="check"><input type="checkbox" name="confirm" value="yes" required> Yes, refuse those credentials from now on</label>`
      : ''
  }
  <button type="submit">Save</button>
</div></form></section>`;
}

function serviceAccountsSection(input: AccountPageInput): SafeHtml {
  const { account } = input;
  if (input.serviceAccounts === undefined) return html``;
  const base = `/admin/accounts/${seg(account.id)}/service-accounts`;
  const rows = input.serviceAccounts.length
    ? html`<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Name</th><th scope="col">Client id</th><th scope="col">Env</th><th scope="col">Scopes</th><th scope="col">Secret hint</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead><tbody>${input.serviceAccounts.map(
        (sa) => html`<tr><td data-label="Name" class="name">${sa.name ?? ''}</td><td data-label="Client id"><code>${sa.clientId}</code></td><td data-label="Env">${sa.environment}</td><td data-label="Scopes"><code>${sa.scopes.join(' ')}</code></td><td data-label="Secret hint"><code>${sa.secretHint}</code></td><td data-label="Created">${when(sa.createdAt)}</td><td data-label="Expires">${when(sa.expiresAt)}</td><td data-label="State">${keyState(sa, input.now)}</td><td data-label="Actions">${
          sa.revokedAt
            ? ''
            : html`${confirmForm(`${base}/${seg(sa.clientId)}/rotate`, input.csrf, 'Rotate secret', 'Make a new secret? Tokens issued under the old one stop working.', 'secondary', true)} ${confirmForm(
                `${base}/${seg(sa.clientId)}/revoke`,
                input.csrf,
                'Revoke',
                'Revoke this service account? Its tokens are refused at once.',
              )}`
        }</td></tr>`,
      )}</tbody></table></div>`
    : html`<p>No service accounts.</p>`;
  const canCreate = account.enterprise && account.tier !== 'free';
  const form = input.serviceForm ?? {};
  return html`<section aria-labelledby="sa-h"><h2 id="sa-h">OAuth service accounts</h2>${rows}
${
  canCreate
    ? html`<form method="post" action="${base}" class="spaced">${csrfField(input.csrf)}${onceField()}<div class="row">
  <label for="sa-name">Name<input id="sa-name" name="name" type="text" required maxlength="200" value="${form.name ?? ''}"></label>
  ${environmentSelect('sa-env', form.environment)}
  <label for="sa-scopes">Scopes<input id="sa-scopes" name="scopes" type="text" value="${form.scopes ?? ''}" placeholder="full access"></label>
  <button type="submit">Create service account</button></div></form>`
    : html`<p class="hint">Service accounts are for enterprise-provisioned, paying accounts.</p>`
}</section>`;
}

function creditsSection(input: AccountPageInput): SafeHtml {
  if (!input.credits) return html``;
  return html`<section aria-labelledby="credits-h"><h2 id="credits-h">Credits</h2>
<p>Balance: <strong>${input.credits.text}</strong>. Live requests of a metered account spend credits; test requests never do. Granting credits makes an unmetered account metered.</p>
<form method="post" action="/admin/accounts/${seg(input.account.id)}/credits">${csrfField(input.csrf)}${onceField()}<div class="row">
  <label for="grant-amount">Credits to grant<input id="grant-amount" name="amount" type="number" min="1" step="1" required value="${input.credits.amount ?? ''}"></label>
  <button type="submit">Grant credits</button></div></form></section>`;
}

export function accountPage(input: AccountPageInput): string {
  const { account } = input;
  return layout({
    title: account.id,
    csrf: input.csrf,
    body: html`<p><a href="/admin/">← Accounts</a></p>
<h1>Account <span class="mono">${account.id}</span></h1>
${messages(input)}
<section><p>Tier: <strong>${TIER_LABEL[account.tier] ?? account.tier}</strong> · Enterprise provisioning: <strong>${
      account.enterprise ? 'provisioned' : 'no'
    }</strong>${input.credits ? html` · Credits: <strong>${input.credits.text}</strong>` : ''}</p></section>
<section aria-labelledby="keys-h"><h2 id="keys-h">API keys</h2>${
      input.keys.length ? keyRows(account.id, input.keys, input.csrf, input.now) : html`<p>No keys yet.</p>`
    }<p class="hint">Give every integration its own key, so one can be revoked without stopping the others.</p></section>
${generateSection(input)}
${serviceAccountsSection(input)}
${input.credits?.chart ?? ''}
${creditsSection(input)}
${settingsSection(input)}`,
  });
}

/** The one-time answer to the POST that made a key or secret: never a GET, never cached. */
export function revealPage(input: {
  csrf: string;
  accountId: string;
  kind: 'key' | 'secret';
  secret: string;
  label: SafeHtml;
  /** After a rotation: the old key, still valid until revoked. */
  old?: KeyInfo;
  now: number;
}): string {
  const what = input.kind === 'key' ? 'API key' : 'client secret';
  return layout({
    title: `New ${what}`,
    csrf: input.csrf,
    body: html`<h1>New ${what}</h1>
<section class="card" aria-labelledby="reveal-h">
<h2 id="reveal-h">${input.label}</h2>
<p class="warn" role="alert"><strong>Store it now.</strong> This is the only time the ${what} is shown: finora-auth keeps only its digest, and it cannot be shown again. Leaving or reloading this page loses it.</p>
<code class="secret" id="secret">${input.secret}</code>
<button type="button" class="secondary" data-copy="secret" hidden>Copy to clipboard</button>
</section>
${
  input.old
    ? html`<section aria-labelledby="old-h"><h2 id="old-h">The old key is still valid</h2>
<p>Move the integration to the new key, then revoke the old one.</p>${keyRows(input.accountId, [input.old], input.csrf, input.now)}</section>`
    : ''
}
<p><a href="/admin/accounts/${seg(input.accountId)}">Done: back to the account</a></p>`,
  });
}

/** Confirmation without JavaScript: the action's own form again, with `confirm=yes`. */
export function confirmPage(input: { csrf: string; action: string; question: string; back: string; button: string; once?: string }): string {
  return layout({
    title: 'Confirm',
    csrf: input.csrf,
    body: html`<h1>Confirm</h1>
<section><p>${input.question}</p>
<form method="post" action="${input.action}">${csrfField(input.csrf)}${input.once !== undefined ? onceField(input.once) : ''}<input type="hidden" name="confirm" value="yes">
<button class="danger" type="submit">${input.button}</button> <a href="${input.back}">Cancel</a></form></section>`,
  });
}

export function expiringPage(input: { csrf: string; keys: KeyInfo[]; days: number; now: number }): string {
  return layout({
    title: 'Expiring keys',
    csrf: input.csrf,
    body: html`<h1>Keys expiring within ${input.days} days</h1>
<section>${
      input.keys.length
        ? html`<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Account</th><th scope="col">Name</th><th scope="col">Env</th><th scope="col">Hint</th><th scope="col">Expires</th></tr></thead><tbody>${input.keys.map(
            (key) => html`<tr><td data-label="Account" class="name"><a href="/admin/accounts/${seg(key.accountId)}">${key.accountId}</a></td><td data-label="Name" class="name">${key.name ?? ''}</td><td data-label="Env">${key.environment}</td><td data-label="Hint"><code>${key.hint}</code></td><td data-label="Expires">${when(key.expiresAt)} (${Math.max(
              0,
              Math.ceil((key.expiresAt.getTime() - input.now) / 86_400_000),
            )} d)</td></tr>`,
          )}</tbody></table></div><p class="hint">Rotate each on its account's page, move the integration, then revoke the old key.</p>`
        : html`<p>No key expires within ${input.days} days.</p>`
    }</section>`,
  });
}

export function messagePage(input: { csrf?: string; title: string; message: string }): string {
  return layout({
    title: input.title,
    ...(input.csrf ? { csrf: input.csrf } : {}),
    body: html`<h1>${input.title}</h1><p class="error" role="alert">${input.message}</p><p><a href="/admin/">Back to the console</a></p>`,
  });
}

/** The answer to a creating form sent again: what it made the first time, never a secret, and the way back. */
export function alreadyPage(input: { csrf: string; accountId: string; title: string; message: string }): string {
  return layout({
    title: input.title,
    csrf: input.csrf,
    body: html`<h1>${input.title}</h1>
<section><p class="warn" role="status">${input.message}</p>
<p><a href="/admin/accounts/${seg(input.accountId)}">Open account ${input.accountId}</a></p></section>`,
  });
}

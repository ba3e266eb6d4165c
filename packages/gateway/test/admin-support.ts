// Test helpers for the admin console: a console on a plain node:http server, and a client with a cookie jar.

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryKeyStore, type KeyStore } from '@finora-auth/core';
import { createAdminConsole, type AdminConsoleOptions } from '../src/admin/index';

export interface ConsoleHandle {
  url: string;
  token: string;
  store: KeyStore;
  server: Server;
  close(): Promise<void>;
}

/** A fresh random admin token (never a literal in source). */
export function adminToken(): string {
  return randomBytes(24).toString('base64url');
}

export async function startConsole(options: Partial<AdminConsoleOptions> = {}): Promise<ConsoleHandle> {
  const token = options.token ?? adminToken();
  const store = options.store ?? new MemoryKeyStore();
  const admin = createAdminConsole({ ...options, store, token });
  const server = createServer((req, res) => {
    if (admin.owns(req.url)) void admin.handle(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    store,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * A fresh one-time form nonce, for a test that posts a creating form without fetching the page first (the console
 * acts on any nonce its session has not seen; the page's own forms each carry a fresh one).
 */
export function once(): string {
  return randomBytes(16).toString('base64url');
}

/** The one-time nonce of the form on `page` that posts to `action`. */
export function onceOf(page: string, action: string): string {
  const form = page.split('<form').find((part) => part.includes(`action="${action}"`));
  const match = form && /name="once" value="([^"]+)"/.exec(form.split('</form>')[0] as string);
  if (!match) throw new Error(`no one-time field in the form posting to ${action}`);
  return match[1] as string;
}

/** The CSRF token in a page's forms. */
export function csrfOf(page: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error('no CSRF field on the page');
  return match[1] as string;
}

/** A browser-like client: keeps the session cookie, posts forms, never follows redirects by itself. */
export class ConsoleClient {
  cookie: string | undefined;
  constructor(readonly base: string) {}

  async request(path: string, init: RequestInit = {}): Promise<Answer> {
    const headers = new Headers(init.headers);
    if (this.cookie !== undefined && !headers.has('cookie')) headers.set('cookie', this.cookie);
    const response = await fetch(this.base + path, { ...init, headers, redirect: 'manual' });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0];
    return { status: response.status, headers: response.headers, body: await response.text() };
  }

  get(path: string): Promise<Answer> {
    return this.request(path);
  }

  post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** Logs in and returns the session's CSRF token. */
  async login(token: string): Promise<string> {
    const answer = await this.post('/admin/login', { token });
    if (answer.status !== 303) throw new Error(`login answered ${answer.status}`);
    return csrfOf((await this.get('/admin/')).body);
  }
}

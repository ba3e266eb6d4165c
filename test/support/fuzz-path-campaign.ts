// Path-confusion campaigns: spellings of enterprise routes sent to real frameworks, raw, byte for byte.

import fc from 'fast-check';
import { isEnterpriseModule, moduleFromPath, type KeyStore } from '@finora-auth/core';
import { modulePath, type PathCase } from './fuzz-arbitraries';
import { startApp, type Framework, type RunningApp } from './fuzz-apps';
import { runCampaign, type CampaignOptions, type CampaignResult } from './fuzz-campaign';
import { startGateway } from './fuzz-gateway';
import { buildRequest, RawPool } from '../../packages/gateway/test/support/raw-http';

interface RouteAnswer {
  route: string;
  routingPath: string;
  module: string | null;
  keyId: string | null;
}

function routeOf(body: string): RouteAnswer | undefined {
  try {
    const parsed = JSON.parse(body) as RouteAnswer;
    return typeof parsed?.route === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Spellings that must stay in every run: each reached an enterprise handler while being judged retail at some point. */
export const KNOWN_SPELLINGS: readonly string[] = [
  '/payments/../invoices',
  '/payments/..%2finvoices',
  '/payments/%2e%2e/invoices',
  '/v1/payments/..%2Finvoices',
  '/v1/payments/x/..%2F..%2Finvoices',
  '/ai/..%2f..%2fv1%2finvoices',
  '/%70ayments/..%2finvoices',
  '/PAYMENTS/..%2finvoices',
];

/**
 * The core's `moduleFromPath`, applied to the path the framework routes on (Express and Koa: the raw pathname;
 * Hono: its decoded, dot-resolved `c.req.path`), against the framework's own routing, no middleware: whenever an
 * enterprise route's handler runs, that path must be judged enterprise. A finding here is the core's; a finding
 * only in {@link adapterPathCampaign} is the adapter's.
 */
export async function routingCampaign(framework: Framework, options: CampaignOptions): Promise<CampaignResult> {
  const app = await startApp(framework);
  const pool = new RawPool(app.port, options.concurrency ?? 4);
  try {
    return await runCampaign<PathCase>(
      `routing:${framework}`,
      modulePath(),
      async ({ path }, tally) => {
        const response = await pool.send(buildRequest(path, []));
        const answer = routeOf(response.body);
        if (response.status !== 200 || !answer?.route) {
          tally(response.status === 404 ? 'no route' : `status ${response.status}`);
          return [];
        }
        tally(isEnterpriseModule(answer.route) ? 'enterprise handler' : 'retail handler');
        const judged = moduleFromPath(answer.routingPath);
        if (isEnterpriseModule(answer.route) && !(judged && isEnterpriseModule(judged))) {
          return [`${framework} ran the ${answer.route} handler; moduleFromPath(${JSON.stringify(answer.routingPath)}) judged ${judged ?? 'no module'}`];
        }
        return [];
      },
      { concurrency: pool.size, ...options },
    );
  } finally {
    pool.close();
    await app.close();
  }
}

export interface PathKeys extends CampaignOptions {
  retailKey: string;
  enterpriseKey: string;
}

export interface AdapterPathOptions extends PathKeys {
  /** The adapter's middleware for this framework, judging modules from the path. */
  middleware: unknown;
}

/**
 * The adapter in front of every route, module derived from the path: a retail key never reaches an enterprise
 * handler, and when an enterprise key does, the request was judged as an enterprise module.
 */
export async function adapterPathCampaign(framework: Framework, options: AdapterPathOptions): Promise<CampaignResult> {
  const app: RunningApp = await startApp(framework, { middleware: options.middleware });
  try {
    return await pathCampaignOn(`paths:${framework}`, app.port, options);
  } finally {
    await app.close();
  }
}

/**
 * The gateway in front of an upstream `framework` app that routes on the path the gateway forwards: a retail key
 * never reaches an enterprise handler upstream, and every request that does was judged enterprise (the
 * `Finora-Module` the gateway forwarded).
 */
export async function gatewayPathCampaign(
  upstream: Framework,
  options: PathKeys & { store: KeyStore; now: () => number },
): Promise<CampaignResult> {
  const gateway = await startGateway(upstream, { store: options.store, authenticator: { now: options.now } });
  try {
    return await pathCampaignOn(`paths:gateway>${upstream}`, gateway.port, options);
  } finally {
    await gateway.close();
  }
}

async function pathCampaignOn(name: string, port: number, options: PathKeys): Promise<CampaignResult> {
  const pool = new RawPool(port, options.concurrency ?? 4);
  try {
    return await runCampaign<PathCase>(
      name,
      fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...KNOWN_SPELLINGS).map((path) => ({ path, module: 'payments' })) }, { weight: 30, arbitrary: modulePath() }),
      async ({ path }, tally) => {
        const problems: string[] = [];
        for (const [label, key] of [['retail', options.retailKey], ['enterprise', options.enterpriseKey]] as const) {
          const response = await pool.send(buildRequest(path, [['Authorization', `Bearer ${key}`]]));
          if (response.status >= 500 && response.status !== 503) problems.push(`${label} key: status ${response.status}`);
          const answer = response.status === 200 ? routeOf(response.body) : undefined;
          if (!answer?.route) {
            tally(`${label}: ${response.status}`);
            continue;
          }
          tally(`${label}: ${isEnterpriseModule(answer.route) ? 'enterprise' : 'retail'} handler`);
          if (!isEnterpriseModule(answer.route)) continue;
          if (label === 'retail') problems.push(`the retail key reached the ${answer.route} handler (judged ${answer.module ?? 'no module'})`);
          else if (!answer.module || !isEnterpriseModule(answer.module)) {
            problems.push(`the ${answer.route} handler ran for a request judged ${answer.module ?? 'no module'}`);
          }
        }
        return problems;
      },
      { concurrency: pool.size, ...options },
    );
  } finally {
    pool.close();
  }
}

// Fuzz campaigns shared by the vitest suites (small counts, on source) and scripts/fuzz.mjs (100,000+, on built dists).

import fc from 'fast-check';
import {
  createAuthenticator,
  MemoryKeyStore,
  type AuthRequest,
  type DecisionEvent,
} from '@finora-auth/core';
import { ALL_MODULES, anyHeader } from './fuzz-arbitraries';
import { buildWorld, expectedFor, leaksIn, referenceToken, refusalProblems, type World } from './fuzz-world';
import { tapStore } from '@finora-auth/core/testing';

export interface Finding {
  input: string;
  problems: string[];
}

export interface CampaignResult {
  name: string;
  runs: number;
  seed: number;
  durationMs: number;
  findingCount: number;
  /** The first few findings, inputs shortened for printing. */
  findings: Finding[];
  /** Counters a campaign keeps about what it saw (allowed, refused by code, refused by Node's parser …). */
  tally: Record<string, number>;
}

export interface CampaignOptions {
  runs: number;
  seed?: number;
  /** Inputs checked at once. Default: 1. */
  concurrency?: number;
  /** Findings kept in full. Default: 20. */
  keep?: number;
}

/** Shortens an input for a report: 64 KB values are summarised, control characters escaped. */
export function describeInput(input: unknown): string {
  const text = JSON.stringify(input, (_, value: unknown) =>
    typeof value === 'string' && value.length > 300 ? `${value.slice(0, 120)}…(${value.length} chars)…${value.slice(-60)}` : value,
  );
  return text ?? String(input);
}

/**
 * Draws `runs` inputs from `arbitrary` (in batches, reproducible from `seed`) and checks each one; `check` returns
 * the problems it saw, or throws (a throw is a problem too). Unlike `fc.assert` it does not stop at the first
 * finding: the report counts them all.
 */
export async function runCampaign<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  check: (input: T, tally: (label: string) => void) => Promise<string[]>,
  options: CampaignOptions,
): Promise<CampaignResult> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const concurrency = options.concurrency ?? 1;
  const keep = options.keep ?? 20;
  const findings: Finding[] = [];
  const tallyCounts: Record<string, number> = {};
  const tally = (label: string) => {
    tallyCounts[label] = (tallyCounts[label] ?? 0) + 1;
  };
  let findingCount = 0;
  const started = performance.now();
  const batchSize = 500;
  for (let done = 0, batch = 0; done < options.runs; batch++) {
    const count = Math.min(batchSize, options.runs - done);
    const inputs = fc.sample(arbitrary, { numRuns: count, seed: seed + batch });
    let index = 0;
    const worker = async () => {
      while (index < inputs.length) {
        const input = inputs[index++] as T;
        let problems: string[];
        try {
          problems = await check(input, tally);
        } catch (error) {
          problems = [`threw: ${error instanceof Error ? error.stack ?? error.message : String(error)}`];
        }
        if (problems.length > 0) {
          findingCount++;
          if (findings.length < keep) findings.push({ input: describeInput(input), problems });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, inputs.length) }, worker));
    done += count;
  }
  return {
    name,
    runs: options.runs,
    seed,
    durationMs: Math.round(performance.now() - started),
    findingCount,
    findings,
    tally: tallyCounts,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// authenticate(), directly

export interface CoreInput {
  authorization: string;
  module: string | undefined;
}

/**
 * Fuzzes `authenticate` against the contract's decision table: every answer must be exactly the one the
 * oracle gives (status, code, key), refusals well-formed, malformed headers never reaching the store, and no
 * key in any message or decision event.
 */
export async function coreCampaign(options: CampaignOptions & { world?: World }): Promise<CampaignResult> {
  const store = tapStore(new MemoryKeyStore());
  const world = options.world ?? (await buildWorld(store));
  const secrets = world.secrets();
  let lastEvent: DecisionEvent | undefined;
  const auth = createAuthenticator({ store, now: world.now, onDecision: (event) => (lastEvent = event) });
  const keys = world.keys.map((k) => k.apiKey);
  const input = fc.record({ authorization: anyHeader(keys, { huge: true }), module: fc.option(fc.constantFrom(...ALL_MODULES), { nil: undefined }) });

  try {
    return await runCampaign<CoreInput>(
      'authenticate',
      input,
      async ({ authorization, module }, tally) => {
        const problems: string[] = [];
        const expected = expectedFor(world, authorization, module);
        const lookupsBefore = store.lookups;
        lastEvent = undefined;
        const request: AuthRequest = { authorization };
        if (module !== undefined) request.module = module;
        const result = await auth.authenticate(request);
        const token = referenceToken(authorization);
        if (typeof token === 'string' && store.lookups !== lookupsBefore) problems.push(`a ${token} header reached the store`);
        if (result.ok) {
          tally('allowed');
          if (expected.status !== 200) problems.push(`allowed, but the contract says ${expected.status} ${expected.code}`);
          else if (result.context.keyId !== expected.key?.keyId) problems.push(`allowed as ${result.context.keyId}, not ${expected.key?.keyId}`);
          if (result.context.module !== module) problems.push(`context.module ${result.context.module} for ${module}`);
          const warned = 'Finora-Key-Expires-At' in result.headers;
          if (warned !== Boolean(expected.expiryHeader)) problems.push(`Finora-Key-Expires-At ${warned ? 'sent' : 'missing'}`);
        } else {
          tally(result.error.code);
          const { status, code, headers, body } = result.error;
          if (status !== expected.status || code !== expected.code) {
            problems.push(`${status} ${code}, but the contract says ${expected.status} ${expected.code ?? 'allowed'}`);
          }
          const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
          problems.push(...refusalProblems(status, lower, JSON.stringify(body)));
          if (leaksIn(JSON.stringify(result.error), secrets).length > 0) problems.push('a key in the refusal');
        }
        if (!lastEvent) problems.push('no decision event');
        else if (leaksIn(JSON.stringify(lastEvent), secrets).length > 0) problems.push('a key in the decision event');
        return problems;
      },
      options,
    );
  } finally {
    await auth.close();
  }
}

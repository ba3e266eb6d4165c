// Fuzzes each adapter and the gateway over real HTTP with raw bytes: every answer is the contract's, nothing unwanted gets in.

import { describe, expect, it } from 'vitest';
import { FRAMEWORKS } from './support/fuzz-apps';
import { headerCampaign } from './support/fuzz-header-campaign';

const RUNS = 1_500;

describe.each([...FRAMEWORKS, 'gateway' as const])('fuzz: %s over HTTP', (framework) => {
  it('answers generated, repeated and smuggled Authorization fields as the contract says; no 500, no crash, no key', async () => {
    const result = await headerCampaign(framework, { runs: RUNS });
    expect(result.findings, `seed ${result.seed}`).toEqual([]);
    const tally = Object.keys(result.tally).join(' | ');
    for (const seen of ['single: handler', 'single: 401 INVALID_API_KEY', 'single: 403 ENTERPRISE_ONLY', 'repeated: 401']) {
      expect(tally, `never saw ${seen}`).toContain(seen);
    }
  });
});

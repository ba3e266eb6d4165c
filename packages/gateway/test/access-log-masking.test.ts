// The access log never keeps a key issued by the key manager, however its letters are spelled or percent-encoded in the path.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRequest, RawClient } from './support/raw-http';
import { startGateway, type GatewayFixture } from './upstreams/gateway-fixture';
import { eventually } from '@finora-auth/core/testing';

/** `text` with the character at `index` percent-encoded. */
const encodeAt = (text: string, index: number, times = 1): string => {
  let escaped = text[index] as string;
  for (let i = 0; i < times; i++) escaped = [...escaped].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
  return text.slice(0, index) + escaped + text.slice(index + 1);
};

/** Every reading of a logged path a person or a tool might make: as it stands, and decoded up to three times. */
function readings(path: string): string[] {
  const out = [path];
  for (let i = 0; i < 3; i++) {
    const last = out.at(-1) as string;
    out.push(last.replace(/%[0-9a-f]{2}/gi, (escape) => String.fromCharCode(Number.parseInt(escape.slice(1), 16))));
  }
  return out.map((text) => text.toLowerCase());
}

describe('access log masking', () => {
  let gateway: GatewayFixture;
  let key = '';
  beforeAll(async () => {
    gateway = await startGateway(undefined);
    key = (await gateway.manager.issue({ accountId: 'acme', environment: 'live' })).apiKey;
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('masks whole keys whatever their spelling, and leaves no 8 characters of the secret in any decoding', async () => {
    const secret = key.slice('live_sk_'.length);
    const spellings = [
      key,
      encodeAt(key, 0), // %6cive_sk_…
      encodeAt(key, 6), // live_s%6b_…
      encodeAt(encodeAt(key, 9), 8), // live_sk_%xx%xx…
      encodeAt(key, 0, 2), // %256cive_sk_…
      key.replace(/_/g, '-'), // live-sk-…
      key.toUpperCase(), // LIVE_SK_…
      encodeAt(key.toUpperCase(), 4), // LIVE%5FSK_…
      secret, // the secret without its prefix
    ];
    const client = new RawClient(gateway.port);
    for (const spelling of spellings) await client.send(buildRequest(`/v1/invoices/${spelling}/x`, []));
    await eventually(async () => gateway.lines.filter((line) => line.path.startsWith('/v1/invoices/')).length === spellings.length, 2_000);
    for (const line of gateway.lines) {
      expect(line.path).toMatch(/^\/v1\/invoices\/\[redacted\]\/x$/);
      for (const reading of readings(JSON.stringify(line))) {
        for (let i = 0; i + 8 <= secret.length; i++) expect(reading).not.toContain(secret.slice(i, i + 8));
      }
    }
  });
});

// What the access log line says about a decision, copied from the decision itself (`result.decision`).

import type { DecisionEvent } from '@finora-auth/core';
import type { AccessRecord } from './access-log';

export function recordDecision(record: AccessRecord, event: DecisionEvent): void {
  record.reason = event.reason;
  if (event.code !== undefined) record.code = event.code;
  if (event.cache !== 'none') record.cache = event.cache;
  if (event.keyId !== undefined) record.keyId = event.keyId;
  if (event.keyHint !== undefined) record.keyHint = event.keyHint;
  if (event.accountId !== undefined) record.accountId = event.accountId;
  if (event.environment !== undefined) record.environment = event.environment;
  if (event.module !== undefined) record.module = event.module;
  if (event.probableLeak === true) record.probableLeak = true;
}

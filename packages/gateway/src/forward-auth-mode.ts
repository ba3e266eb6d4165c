// `serve --forward-auth`: answers the proxy's question for one request and notes the decision in its log line.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '@finora-auth/core';
import { loggablePath, type AccessRecord } from './access-log';
import { recordDecision } from './decision-record';
import { judgeForwardAuth } from './forward-auth';
import { settleUnreadBody } from './unread-body';

/** The log line names the described request (method, target, module), the one that was judged. */
export async function answerForwardAuth(
  authenticator: Authenticator,
  req: IncomingMessage,
  res: ServerResponse,
  record: AccessRecord,
): Promise<void> {
  const answer = await judgeForwardAuth(authenticator, req);
  record.method = answer.method;
  record.path = loggablePath(answer.target);
  if (answer.result) recordDecision(record, answer.result.decision);
  if (answer.module !== undefined) record.module = answer.module;
  if (res.destroyed) return;
  // A body is never read here: the proxy should not send one, and a large one must not be drained. (Nearly every
  // question has none, and is complete already: nothing to wait for.)
  if (!req.complete) {
    await settleUnreadBody(req, res, false);
    if (res.destroyed) return;
  }
  if ('headerList' in answer) {
    // Allowed: no body, so the length is a constant.
    answer.headerList.push('Content-Length', '0');
    res.writeHead(answer.status, answer.headerList);
    res.end();
    return;
  }
  // The answer's headers are its own object: the length is added to it, not to a copy.
  answer.headers['Content-Length'] = String(Buffer.byteLength(answer.body));
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

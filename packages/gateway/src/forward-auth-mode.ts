// `serve --forward-auth`: answers the proxy's question for one request and notes the decision in its log line.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '@finora-auth/core';
import { loggablePath, type AccessRecord } from './access-log';
import { recordDecision } from './decision-record';
import { judgeForwardAuth, type JudgedForwardAuth } from './forward-auth';
import { settleUnreadBody } from './unread-body';

/**
 * The log line names the described request (method, target, module), the one that was judged. A cached key is
 * answered in the request's own tick: nothing returned to wait for.
 */
export function answerForwardAuth(
  authenticator: Authenticator,
  req: IncomingMessage,
  res: ServerResponse,
  record: AccessRecord,
): Promise<void> | undefined {
  const judged = judgeForwardAuth(authenticator, req);
  return judged instanceof Promise ? judged.then((answer) => reply(answer, req, res, record)) : reply(judged, req, res, record);
}

function reply(answer: JudgedForwardAuth, req: IncomingMessage, res: ServerResponse, record: AccessRecord): Promise<void> | undefined {
  record.method = answer.method;
  record.path = loggablePath(answer.target);
  if (answer.result) recordDecision(record, answer.result.decision);
  if (answer.module !== undefined) record.module = answer.module;
  if (res.destroyed) return undefined;
  // A body is never read here: the proxy should not send one, and a large one must not be drained. (Nearly every
  // question has none: nothing to wait for.)
  const settling = settleUnreadBody(req, res, false);
  if (settling) {
    return settling.then(() => {
      if (!res.destroyed) writeForwardAuthAnswer(answer, res);
    });
  }
  writeForwardAuthAnswer(answer, res);
  return undefined;
}

/** Writes a judged answer: 200 with the identity headers and no body, or the refusal with its JSON body. */
export function writeForwardAuthAnswer(answer: JudgedForwardAuth, res: ServerResponse): void {
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

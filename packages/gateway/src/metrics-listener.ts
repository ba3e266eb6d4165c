// The listener of its own that serves `/metrics` when configuration moves it off the serving port.

import { createServer, type Server } from 'node:http';
import { PROMETHEUS_CONTENT_TYPE, type GatewayMetrics } from './metrics';
import { errorBody } from './responses';

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } as const;

export function createMetricsListener(metrics: GatewayMetrics): Server {
  return createServer((req, res) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && (req.url ?? '').split('?')[0] === '/metrics') {
      const body = metrics.render();
      res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const body = errorBody('NOT_FOUND', 'Only /metrics is served here.');
    res.writeHead(404, { ...JSON_HEADERS, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}

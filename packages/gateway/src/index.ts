// @finora-auth/gateway: the authenticating reverse proxy behind the `finora-auth` command, usable in-process too.

export { createGateway } from './gateway';
export type { Gateway, GatewayAddress, GatewayIssuer, GatewayOptions } from './gateway';
export { describedRequest, forwardAuth, SCOPES_HEADER } from './forward-auth';
export type { DescribedRequest, ForwardAuthAnswer } from './forward-auth';
export { createAdminConsole } from './admin/index';
export type { AdminConsole, AdminConsoleOptions } from './admin/index';
export type { ThrottleOptions } from './throttle';
export { GatewayMetrics } from './metrics';
export { IDENTITY_HEADERS } from './forward-headers';
export { AccessLog, loggablePath } from './access-log';
export type { AccessRecord, LogSink } from './access-log';
export { DEFAULT_STORE_URL, openStore, parseStoreUrl, redactStoreUrl, StoreUrlError, StoreUnreachableError } from './store-url';
export type { StoreSpec } from './store-url';
export { seedIfEmpty, DEMO_ACCOUNT_ID } from './seed';
export type { GatewayErrorCode } from './responses';
export { main } from './cli-main';

export { ApnsClient, ApnsClientClosedError, type ApnsClientStats, resolveApnsEndpoint } from './apns-client.js';
export { type BackoffPolicy, jitteredBackoffMs } from './backoff.js';
export { classifyResponse, classifyTransportError } from './classify.js';
export {
  APNS_ENDPOINTS,
  type ApnsClientOptions,
  type ApnsEnvironment,
  type MdmPushRequest,
  type PushOutcome,
  type PushOutcomeKind,
  type RetriedOutcome,
  type RetryOptions,
} from './types.js';

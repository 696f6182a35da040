/**
 * The public SDK: the only module plugins import from the gateway.
 * Built-in plugins follow the same rule as partners' plugins (see docs/plugins.md).
 */

export * from './admin-http.js';
export * from './contracts/admin.js';
export * from './contracts/declarative.js';
export * from './contracts/device-identity.js';
export * from './contracts/enrollment.js';
export * from './contracts/enrollment-attempts.js';
export * from './contracts/identity.js';
export * from './contracts/mdm.js';
export * from './contracts/portal.js';
export * from './contracts/push-health.js';
export * from './contracts/readiness.js';
export * from './contracts/surfaces.js';
export * from './contracts/unenrollment.js';
export * from './core-services.js';
export * from './errors.js';
export * from './events.js';
export * from './extensions.js';
export * from './generation-cache.js';
export * from './html.js';
export * from './http.js';
export * from './identifiers.js';
export * from './live-channel.js';
export * from './openapi.js';
export * from './plugin.js';
export * from './rate-limit.js';
export * from './redis-lock.js';
export * from './refs.js';
export * from './settings-routes.js';
export * from './storage.js';
export * from './timeout.js';
export * from './version.js';
export * from './versioning.js';

/**
 * The pure MDM protocol layer: no I/O, no storage. Parses what devices send (keeping the raw bytes for signature
 * checks and audit) and builds what the server sends back.
 */

export * from './checkin.js';
export * from './command-results.js';
export * from './commands.js';
export * from './errors.js';
export * from './installable-profile.js';
export * from './plist-safe.js';
export * from './profile.js';
export * from './report.js';

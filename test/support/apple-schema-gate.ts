/**
 * Marks the running mocha test pending when Apple's schemas are absent, and says once, at the end of the run, how
 * to get them. Mocha reports a test pending when `test.pending` is set, whatever it threw afterwards.
 */
import { APPLE_SCHEMA_HOWTO } from './apple-schema-dir.js';

class AppleSchemasMissing extends Error {}

let current: Mocha.Test | undefined;
let skipped = 0;

// Registered once, at the root, by the first test file that imports the validator (mocha's globals exist then).
if (typeof beforeEach === 'function' && typeof after === 'function') {
  beforeEach(function rememberTest() {
    current = this.currentTest;
  });
  after(function sayHowToGetSchemas() {
    if (skipped > 0) console.log(`\n  ${skipped} conformance tests pending. ${APPLE_SCHEMA_HOWTO}.`);
  });
}

export function skipWithoutSchemas(): never {
  if (!current) throw new AppleSchemasMissing(APPLE_SCHEMA_HOWTO);
  if (!current.pending) skipped++;
  current.pending = true;
  throw new AppleSchemasMissing('skipped: no Apple schemas');
}

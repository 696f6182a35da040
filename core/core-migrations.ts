import type { Connection } from 'mongoose';
import type { BoundMigration } from './migrations.js';

/**
 * The core's own data migrations (owner "core" in gateway_migrations). Version 1 records the first schema, so every
 * database states which core schema it holds and an older gateway can tell it is too old.
 */
export function coreMigrations(_mongo: Connection): BoundMigration[] {
  return [{ version: 1, description: 'record the first core schema version', up: async () => undefined }];
}

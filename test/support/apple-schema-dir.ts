/**
 * Where Apple's device-management schemas are (github.com/apple/device-management; never copied into this
 * repository): $APPLE_SCHEMA_DIR when set, else `<repo>/../shared/apple-device-management`, else
 * `<repo>/.cache/apple-device-management`, where scripts/fetch-apple-schemas.sh puts them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export const APPLE_SCHEMA_HOWTO =
  "Apple's device-management schemas were not found: run scripts/fetch-apple-schemas.sh, or set " +
  'APPLE_SCHEMA_DIR to a checkout of github.com/apple/device-management';

export type SchemaDirLookup = { found: true; dir: string } | { found: false; tried: string[] };

/** A folder counts only if it holds the three folders the validator reads. */
export function isAppleSchemaDir(dir: string, exists: (file: string) => boolean = existsSync): boolean {
  return ['mdm/profiles', 'mdm/commands', 'mdm/checkin'].every((sub) => exists(path.join(dir, sub)));
}

export function findAppleSchemaDir(
  repoRoot: string,
  env: Record<string, string | undefined> = process.env,
  exists: (file: string) => boolean = existsSync,
): SchemaDirLookup {
  // An explicit APPLE_SCHEMA_DIR is the only place looked at: a wrong one must not quietly fall back.
  const candidates = env.APPLE_SCHEMA_DIR
    ? [path.resolve(env.APPLE_SCHEMA_DIR)]
    : [
        path.resolve(repoRoot, '../shared/apple-device-management'),
        path.resolve(repoRoot, '.cache/apple-device-management'),
      ];
  const dir = candidates.find((candidate) => isAppleSchemaDir(candidate, exists));
  return dir ? { found: true, dir } : { found: false, tried: candidates };
}

import type { Connection } from 'mongoose';
import { REFUSAL_ACTION_PREFIX } from '../refusal-audit.js';

const DAY_MS = 86_400_000;

/**
 * Deletes audit entries past their retention through the `at` index: refused-credential entries after
 * `refusalRetentionDays`, everything after `retentionDays`. Deletes only, so it never races the inserting roles.
 */
export async function pruneAuditLog(
  mongo: Connection,
  settings: { retentionDays: number; refusalRetentionDays: number },
  now = Date.now(),
): Promise<{ deleted: number; refusalsDeleted: number }> {
  const entries = mongo.collection('audit_log');
  const refusals = await entries.deleteMany({
    at: { $lt: new Date(now - settings.refusalRetentionDays * DAY_MS) },
    action: { $regex: `^${REFUSAL_ACTION_PREFIX.replace('.', '\\.')}` },
  });
  const all = await entries.deleteMany({ at: { $lt: new Date(now - settings.retentionDays * DAY_MS) } });
  return { deleted: all.deletedCount, refusalsDeleted: refusals.deletedCount };
}

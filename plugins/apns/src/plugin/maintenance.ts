import type { Logger } from 'pino';
import { type CertificateView, type PushCertificateService, viewOf } from './certificate-service.js';
import type { ApnsMetrics } from './metrics.js';
import type { CoalescingPushService } from './push-queue.js';
import type { PushTargets } from './targets.js';

export const MAINTENANCE_QUEUE = 'apns-maintenance';
export type MaintenanceJobData = { kind: 'expiry-check' } | { kind: 'sweep' };

/**
 * Expiry watch: sets the days-left gauge, and logs each threshold (30, 7, 1 days, then expired) once per
 * certificate cluster-wide, with an alert count; the warnings themselves are part of GET /api/apns/certificate.
 */
export async function checkExpiry(
  certificates: PushCertificateService,
  metrics: ApnsMetrics,
  logger: Logger,
  options: { now?: Date /** Start-up: log current warnings even if announced before. */; repeat?: boolean } = {},
): Promise<CertificateView | undefined> {
  const now = options.now ?? new Date();
  const doc = await certificates.activeDoc();
  if (!doc?.notAfter) return undefined;
  const view = viewOf(doc, now);
  metrics.daysLeft.set(view.daysLeft);
  for (const warning of view.warnings) {
    const first = await certificates.markWarned(doc._id, warning.threshold);
    if (!first && !options.repeat) continue;
    if (first) metrics.alerts.inc({ kind: warning.threshold === 0 ? 'certificate-expired' : 'certificate-expiring' });
    logger[warning.level === 'critical' ? 'error' : 'warn'](
      { topic: view.topic, notAfter: view.notAfter, daysLeft: view.daysLeft, threshold: warning.threshold },
      warning.message,
    );
  }
  return view;
}

/** Re-wakes devices that have commands waiting but have not been heard from (a lost push, an offline spell). */
export async function sweep(
  targets: PushTargets,
  push: CoalescingPushService,
  options: { afterMinutes: number; limit: number },
  logger: Logger,
): Promise<number> {
  const since = new Date(Date.now() - options.afterMinutes * 60_000);
  const ids = await targets.needingWake(since, options.limit);
  if (ids.length > 0) {
    await push.wake(ids);
    logger.info({ devices: ids.length }, 'woke devices with pending commands and no recent check-in');
  }
  return ids.length;
}

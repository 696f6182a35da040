import { X509Certificate } from 'node:crypto';
import type { PushHealthProblem, PushHealthReport, PushHealthSource } from 'enrollment-gateway/sdk';
import { isSelfSigned, MDM_TOPIC_PREFIX } from '../cert/index.js';
import { type PushCertificateService, viewOf } from './certificate-service.js';
import type { PushStatsWindow, WindowTotals } from './outcome-storage.js';
import type { PushControl } from './wake-ledger.js';

/** Failures that say nothing about delivery: the device simply has no token (never sent or unenrolled). */
const NOT_DELIVERY = new Set(['no-target']);

function failingProblem(totals: WindowTotals, windowMinutes: number): PushHealthProblem | undefined {
  const failures = Object.entries(totals.failed).filter(([reason]) => !NOT_DELIVERY.has(reason));
  const failed = failures.reduce((sum, [, n]) => sum + (n ?? 0), 0);
  // Failing when at least as many pushes failed as went through; a stray Unregistered among many sent is churn.
  if (failed === 0 || failed < totals.sent) return undefined;
  const reasons = failures.map(([reason, n]) => `${n} ${reason}`).join(', ');
  const last = totals.lastFailure;
  return {
    kind: 'failing',
    level: 'critical',
    message: `pushes are failing: ${failed} failed and ${totals.sent} went through in the last ${windowMinutes} minutes (${reasons})${
      last ? `; last: ${last.reason}${last.detail ? ` (${last.detail})` : ''} at ${last.at}` : ''
    }`,
  };
}

/**
 * What an admin must know about push delivery: the certificate (missing, expired, expiring, self-signed, not an
 * MDM topic), sending paused, and the cluster's recent outcomes (failing, devices under another topic).
 */
export class PushHealth implements PushHealthSource {
  constructor(
    private readonly certificates: PushCertificateService,
    private readonly control: PushControl,
    private readonly stats: PushStatsWindow,
    private readonly windowMinutes: number,
  ) {}

  async health(now = new Date()): Promise<PushHealthReport> {
    const [doc, paused, totals] = await Promise.all([
      this.certificates.activeDoc(),
      this.control.paused(),
      this.stats.totals(this.windowMinutes, now),
    ]);
    const problems: PushHealthProblem[] = [];
    if (!doc?.certPem) {
      problems.push({
        kind: 'not-installed',
        level: 'critical',
        message: 'no Apple MDM push certificate is installed',
      });
    } else {
      const view = viewOf(doc, now);
      for (const warning of view.warnings) {
        problems.push({ kind: view.expired ? 'expired' : 'expiring', level: warning.level, message: warning.message });
      }
      if (isSelfSigned(new X509Certificate(doc.certPem))) {
        problems.push({
          kind: 'self-signed',
          level: 'critical',
          message: 'the push certificate is self-signed: APNs refuses it; upload the certificate Apple issued',
        });
      }
      if (!view.topic.startsWith(MDM_TOPIC_PREFIX)) {
        problems.push({
          kind: 'wrong-topic',
          level: 'critical',
          message: `the push topic ${view.topic} is not an MDM topic (${MDM_TOPIC_PREFIX}…)`,
        });
      }
    }
    if (paused) {
      problems.push({ kind: 'paused', level: 'critical', message: `sending is paused: ${paused.reason}` });
    }
    const mismatched = totals.failed['topic-mismatch'] ?? 0;
    if (mismatched > 0) {
      problems.push({
        kind: 'wrong-topic',
        level: 'warning',
        message: `${mismatched} push(es) in the last ${this.windowMinutes} minutes were for devices enrolled under another push topic: they cannot be woken and must re-enroll`,
      });
    }
    const failing = failingProblem(totals, this.windowMinutes);
    if (failing) problems.push(failing);
    return {
      problems,
      recent: {
        windowMinutes: this.windowMinutes,
        sent: totals.sent,
        failed: totals.failed as Record<string, number>,
        ...(totals.lastFailure ? { lastFailure: totals.lastFailure } : {}),
      },
    };
  }
}

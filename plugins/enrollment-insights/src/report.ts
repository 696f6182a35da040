import {
  ENROLLMENT_FAILURE_REASONS,
  ENROLLMENT_STEPS,
  type EnrollmentFailureReason,
  type EnrollmentStep,
} from 'enrollment-gateway/sdk';
import { REASONS } from './reasons.js';
import type { AttemptRecords, FailureCursor, FailureDoc, FailureFilter } from './storage/attempt-records.js';
import { type DailyCounters, dimOf } from './storage/daily-counters.js';

export interface ReportRange {
  from: string;
  to: string;
  profileId?: string;
  groupId?: string;
}

export interface FunnelReport {
  from: string;
  to: string;
  steps: { step: EnrollmentStep; count: number; conversion: number | null }[];
  days: { day: string; attempts: number; enrolled: number; ready: number; failed: number }[];
  failures: { reason: EnrollmentFailureReason; label: string; count: number; remediation: string }[];
}

/** Every day from `from` to `to` (ISO dates), inclusive. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000)
    days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** The funnel, the daily series and the failure counts, from the daily counters only (never the attempts). */
export async function funnelReport(counters: DailyCounters, range: ReportRange): Promise<FunnelReport> {
  const days = daysBetween(range.from, range.to);
  const docs = new Map((await counters.read(days, dimOf(range.profileId, range.groupId))).map((d) => [d.day, d]));
  const stepTotals: Record<string, number> = {};
  const failureTotals: Record<string, number> = {};
  const series = days.map((day) => {
    const doc = docs.get(day);
    const steps = doc?.steps ?? {};
    for (const [step, n] of Object.entries(steps)) stepTotals[step] = (stepTotals[step] ?? 0) + n;
    for (const [reason, n] of Object.entries(doc?.failures ?? {}))
      failureTotals[reason] = (failureTotals[reason] ?? 0) + n;
    return {
      day,
      attempts: steps['signed-in'] ?? 0,
      enrolled: steps['token-updated'] ?? 0,
      ready: steps.ready ?? 0,
      failed: total(doc?.failures ?? {}),
    };
  });
  const steps = ENROLLMENT_STEPS.map((step, i) => {
    const count = stepTotals[step] ?? 0;
    const before = i > 0 ? (stepTotals[ENROLLMENT_STEPS[i - 1]] ?? 0) : 0;
    return { step, count, conversion: i > 0 && before > 0 ? Math.round((count / before) * 1000) / 1000 : null };
  });
  const failures = ENROLLMENT_FAILURE_REASONS.map((reason) => ({
    reason,
    label: REASONS[reason].label,
    count: failureTotals[reason] ?? 0,
    remediation: REASONS[reason].remediation,
  }));
  return { from: range.from, to: range.to, steps, days: series, failures };
}

export type { FailureFilter } from './storage/attempt-records.js';

export interface FailureItem {
  attemptId: string;
  at: string;
  reason: EnrollmentFailureReason;
  label: string;
  remediation: string;
  step: EnrollmentStep;
  vetoedBy?: string;
  detail?: string;
  userId?: string;
  userName?: string;
  profileId?: string;
  platform?: string;
  osVersion?: string;
  enrollmentId?: string;
}

export function failureItem(doc: FailureDoc): FailureItem {
  const { _id, at, reason, groups: _groups, ...rest } = doc;
  return {
    attemptId: _id,
    at: at.toISOString(),
    reason,
    label: REASONS[reason].label,
    remediation: REASONS[reason].remediation,
    ...rest,
  };
}

/** Newest first, keyset-paginated by (at, attempt id). */
export async function listFailures(
  records: AttemptRecords,
  filter: FailureFilter,
  limit: number,
  before?: FailureCursor,
): Promise<{ items: FailureItem[]; last?: FailureCursor }> {
  const docs = await records.failuresPage(filter, limit, before);
  const page = docs.slice(0, limit);
  const lastDoc = docs.length > limit ? page.at(-1) : undefined;
  return { items: page.map(failureItem), ...(lastDoc ? { last: { at: lastDoc.at, id: lastDoc._id } } : {}) };
}

import { createServiceRef } from '../refs.js';

/** Something about push delivery an admin must act on. */
export interface PushHealthProblem {
  kind: 'not-installed' | 'expired' | 'expiring' | 'self-signed' | 'paused' | 'failing' | 'wrong-topic';
  level: 'warning' | 'critical';
  message: string;
}

/** Pushes of the recent window, summed over every worker. */
export interface RecentPushes {
  windowMinutes: number;
  sent: number;
  /** Failed pushes by reason: invalid-token, certificate, throttled, retryable, rejected, topic-mismatch, no-target. */
  failed: Record<string, number>;
  lastFailure?: { reason: string; detail?: string; deviceId: string; at: string };
}

export interface PushHealthReport {
  problems: PushHealthProblem[];
  recent: RecentPushes;
}

/** Push delivery health for the setup checklist and admin pages; provided by the apns plugin. */
export interface PushHealthSource {
  health(): Promise<PushHealthReport>;
}
export const pushHealthRef = createServiceRef<PushHealthSource>('push.health');

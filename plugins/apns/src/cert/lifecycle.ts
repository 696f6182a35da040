import { PushCertificateError } from './errors.js';

export interface CertificateTopic {
  topic: string;
}

export type RenewalCheck = { ok: true; topicChanged: boolean } | { ok: false; error: PushCertificateError };

/**
 * A renewal must keep the topic: enrolled devices accept pushes only for the topic in their MDM payload, so a
 * certificate with a new topic (made with "Create" instead of "Renew" in Apple's portal, or under another
 * Apple ID) leaves every enrolled device unreachable until it re-enrolls.
 */
export function checkRenewal(
  current: CertificateTopic | undefined,
  next: CertificateTopic,
  options: { allowTopicChange: boolean },
): RenewalCheck {
  if (!current || current.topic === next.topic) return { ok: true, topicChanged: false };
  if (options.allowTopicChange) return { ok: true, topicChanged: true };
  return {
    ok: false,
    error: new PushCertificateError(
      'topic-changed',
      `the new push certificate has topic ${next.topic} but the current one is ${current.topic}. ` +
        'Enrolled devices only wake for the current topic: they would be orphaned and need to re-enroll. ' +
        "Renew the existing certificate in Apple's Push Certificates Portal with the same Apple ID, " +
        'or confirm the topic change explicitly if you mean to start over.',
    ),
  };
}

export const EXPIRY_WARNING_DAYS = [30, 7, 1] as const;
export type ExpiryThreshold = (typeof EXPIRY_WARNING_DAYS)[number];

export interface ExpiryStatus {
  expired: boolean;
  /** Whole days left, rounded down; negative once expired. */
  daysLeft: number;
  /** Thresholds already reached, largest first (30 days left reaches the 30 threshold). */
  crossed: ExpiryThreshold[];
}

const DAY_MS = 86_400_000;

export function expiryWarnings(notAfter: Date, now: Date = new Date()): ExpiryStatus {
  const remainingMs = notAfter.getTime() - now.getTime();
  return {
    expired: remainingMs <= 0,
    daysLeft: Math.floor(remainingMs / DAY_MS),
    crossed: EXPIRY_WARNING_DAYS.filter((days) => remainingMs <= days * DAY_MS),
  };
}

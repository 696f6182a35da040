import type { PluginMetrics } from 'enrollment-gateway/sdk';

/** The plugin's metrics; the kernel adds `gateway_` and a `plugin` label. Queue depth is the kernel's. */
export function apnsMetrics(metrics: PluginMetrics) {
  return {
    sent: metrics.counter('apns_pushes_sent_total', 'MDM pushes APNs accepted'),
    failed: metrics.counter('apns_pushes_failed_total', 'MDM pushes not delivered, by reason', ['reason']),
    latency: metrics.histogram(
      'apns_push_latency_seconds',
      'Time from sending a push to its final outcome, retries included',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    alerts: metrics.counter('apns_alerts_total', 'Problems that need an admin (certificate refused or expiring)', [
      'kind',
    ]),
    daysLeft: metrics.gauge('apns_certificate_days_left', 'Whole days until the push certificate expires'),
    waiting: metrics.gauge('apns_wake_pending', 'Devices waiting for a push (coalescing window or retry delay)'),
  };
}

export type ApnsMetrics = ReturnType<typeof apnsMetrics>;

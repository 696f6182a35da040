import { type EventPublisher, type PluginMetrics, ProblemError } from 'enrollment-gateway/sdk';

/**
 * The MDM counters (the kernel adds `gateway_` and `plugin="mdm"`). They are recorded at the edges, in the
 * routes and around the services' public calls, so the services stay free of metrics.
 */
export function mdmMetrics(metrics: PluginMetrics) {
  return {
    checkins: metrics.counter('mdm_checkins_total', 'Check-in messages by MessageType and outcome', [
      'message_type',
      'outcome',
    ]),
    commandsQueued: metrics.counter('mdm_commands_queued_total', 'MDM commands queued, per device', ['request_type']),
    commandsDelivered: metrics.counter('mdm_commands_delivered_total', 'MDM commands handed to a polling device', [
      'request_type',
    ]),
    commandsAnswered: metrics.counter('mdm_commands_answered_total', 'Command results by RequestType and Status', [
      'request_type',
      'status',
    ]),
    scepIssued: metrics.counter('mdm_scep_certificates_issued_total', 'Device identity certificates issued by SCEP'),
    scepRefused: metrics.counter('mdm_scep_requests_refused_total', 'SCEP requests refused, by reason', ['reason']),
    sessionsIssued: metrics.counter('mdm_enrollment_sessions_issued_total', 'Enrollment sessions (profile links) made'),
    enrollmentsCompleted: metrics.counter(
      'mdm_enrollments_completed_total',
      'Devices whose enrollment completed (first TokenUpdate)',
    ),
  };
}

export type MdmMetrics = ReturnType<typeof mdmMetrics>;

/** accepted, refused (a 4xx the device was told) or failed (our error). */
export function outcomeOf(error: unknown): 'refused' | 'failed' {
  return ProblemError.is(error) && error.status < 500 ? 'refused' : 'failed';
}

/** Counts the domain events the services emit that are also metrics: answers and completed enrollments. */
export function meteredEvents(events: EventPublisher, metrics: MdmMetrics): EventPublisher {
  return {
    async emit(event, payload, options) {
      const emitted = await events.emit(event, payload, options);
      // Counted once per fact: a repeat emit (a device resending its answer) records nothing new.
      if (!emitted.recorded) return emitted;
      if (event === 'command.result') {
        const result = payload as { requestType: string; status: string };
        metrics.commandsAnswered.inc({ request_type: result.requestType, status: result.status });
      } else if (event === 'device.enrolled') {
        metrics.enrollmentsCompleted.inc();
      }
      return emitted;
    },
  };
}

/** Counts created commands per device and request type around the service's enqueue. */
export function meteredEnqueue<A extends [readonly string[], { requestType: string }, ...unknown[]], R>(
  enqueue: (...args: A) => Promise<R[]>,
  metrics: MdmMetrics,
): (...args: A) => Promise<R[]> {
  return async (...args) => {
    const results = await enqueue(...args);
    const created = results.filter((r) => (r as { created?: boolean }).created === true).length;
    if (created > 0) metrics.commandsQueued.inc({ request_type: args[1].requestType }, created);
    return results;
  };
}

/** The RequestType of a command plist the gateway built (plist XML: the key is followed by its string). */
export function requestTypeOf(plist: Buffer): string {
  return (
    /<key>RequestType<\/key>\s*<string>([A-Za-z0-9]{1,64})<\/string>/.exec(plist.toString('utf8'))?.[1] ?? 'unknown'
  );
}

const SCEP_REFUSALS: [RegExp, string][] = [
  [/SCEP message rejected|oversized|unsupported SCEP|supports operation|nothing is pending/, 'bad-message'],
  [/challenge password is required/, 'no-challenge'],
  [/too many requests/, 'rate-limited'],
  [/challenge is invalid/, 'challenge'],
  [/renewal must be signed|not current for a managed device/, 'renewal-signer'],
  [/being retired/, 'retiring'],
];

/** A bounded reason label for a refused SCEP request, from the refusal the service threw. */
export function scepRefusalReason(error: unknown): string {
  if (!ProblemError.is(error) || error.status >= 500) return 'error';
  const detail = error.detail ?? '';
  return SCEP_REFUSALS.find(([pattern]) => pattern.test(detail))?.[1] ?? 'other';
}

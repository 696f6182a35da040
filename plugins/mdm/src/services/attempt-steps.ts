import type { EnrollmentStepEvent, EventPublisher } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';

/**
 * Raises one step of an enrollment attempt (`enrollment.step`), keyed by the enrollment session: the same step
 * of one session is one event however often the device repeats the request. Only enrollment requests raise
 * steps (download, SCEP, Authenticate), never the command poll. A step that cannot be recorded is logged and
 * the enrollment goes on: the report would miss a step, the device must not miss its enrollment.
 */
export async function raiseEnrollmentStep(
  events: EventPublisher,
  logger: Pick<Logger, 'warn'>,
  step: Omit<EnrollmentStepEvent, 'at'> & { enrollmentId: string },
): Promise<void> {
  try {
    await events.emit(
      'enrollment.step',
      { ...step, at: new Date() },
      {
        eventId: `enrollment.step:${step.enrollmentId}:${step.step}`,
      },
    );
  } catch (error) {
    logger.warn({ err: error, enrollmentId: step.enrollmentId, step: step.step }, 'enrollment step not recorded');
  }
}

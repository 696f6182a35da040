import { createHash } from 'node:crypto';
import type { EnrollmentStepEvent } from './contracts/enrollment-attempts.js';

/**
 * Domain events. Plugins add their own with declaration merging:
 *   declare module 'enrollment-gateway/sdk' { interface DomainEvents { 'x.happened': { id: string } } }
 * A plugin must list the events it emits in its definition; the bus refuses undeclared ones.
 * Payloads are stored in the database (BSON): plain data, Dates and Buffers, nothing with methods.
 */
export interface DomainEvents {
  /** The first TokenUpdate completed an enrollment. */
  'device.enrolled': { deviceId: string; udid: string; userId?: string; enrollmentId?: string };
  /** A later TokenUpdate refreshed the push token. */
  'device.tokenUpdated': { deviceId: string; udid: string };
  /** The device told us its management profile was removed. */
  'device.checkedOut': { deviceId: string; udid: string };
  /** Every trace of the device is gone: certificates revoked, tokens and keys erased. */
  'device.unenrolled': {
    deviceId: string;
    udid: string;
    reason: string;
    unreachable: boolean;
    /**
     * Since 1.1: the same for every raise of this fact (one unenrollment of one enrollment); since 2.0 it is
     * also the event id every handler gets as `meta.eventId`. Kept in the payload for receivers outside the
     * gateway (webhooks derive their delivery id from it).
     */
    eventId?: string;
  };
  /**
   * Since 2.7: a DDM status report changed some of the device's latest status items (ddm plugin). Values are JSON
   * text: a device's status may carry keys BSON cannot store.
   */
  'ddm.statusChanged': {
    deviceId: string;
    udid: string;
    enrollmentId?: string;
    changes: { name: string; valueJson: string }[];
  };
  /**
   * Since 2.11: the groups the gateway knows for a user changed (a sign-in brought other groups than the last one;
   * identity-entra). `groups` are now in force, `previous` were; both are group object ids. Plugins whose decisions
   * follow groups (ddm's declaration sets) act on the user's devices.
   */
  'user.groupsChanged': { userId: string; groups: string[]; previous: string[] };
  /** A device answered a command. */
  'command.result': {
    deviceId: string;
    udid: string;
    commandUuid: string;
    requestType: string;
    status: 'Acknowledged' | 'Error' | 'CommandFormatError' | 'NotNow';
    /** The parsed result dictionary, without the envelope keys. */
    result: Record<string, unknown>;
  };
  /** Since 2.9: one step of an enrollment attempt passed or stopped it (see contracts/enrollment-attempts). */
  'enrollment.step': EnrollmentStepEvent;
}

export type DomainEventName = keyof DomainEvents;

export interface EmitOptions {
  /**
   * Names the fact, and is the same for every raise of it: `device.enrolled:<enrollment id>`, not a random
   * id. The first emit with an id records the event; later ones (a retried request, a worker that crashed
   * after emitting) find it recorded and deliver nothing new. At most 512 characters.
   */
  eventId: string;
  /**
   * The emitter's own writes that the event announces, run after the event is recorded and before it is
   * delivered, so no subscriber sees the event before the change. `recorded` is true only for the call
   * that recorded the event first: the unique insert is a single-use claim. Runs again on a repeat emit
   * (recorded: false), so a repeat after a crash completes the change; it must therefore be idempotent.
   * When it throws, emit throws and nothing is delivered now; the sweep delivers the recorded event later.
   */
  apply?: (recorded: boolean) => Promise<void>;
}

export interface EmitResult {
  /** True for the call that recorded the event first; false when an event with that id was already recorded. */
  recorded: boolean;
}

/** What a handler learns besides the payload, to make its effect idempotent. */
export interface EventMeta {
  /** The emitter's event id: the same on every delivery of this event to this handler. */
  eventId: string;
  event: DomainEventName;
  /** 1 on the first delivery, more on retries (after a failure, a timeout or a crashed worker). */
  attempt: number;
  /** When the event was recorded. */
  recordedAt: Date;
}

export interface EventPublisher {
  /**
   * Records the event in the core's outbox (unique by `eventId`), then queues one delivery per subscribing
   * plugin. Throws when the event cannot be recorded; a delivery that cannot be queued now is left to the
   * sweep. Never waits for a handler.
   */
  emit<K extends DomainEventName>(event: K, payload: DomainEvents[K], options: EmitOptions): Promise<EmitResult>;
}

/**
 * A UUID (upper case, as MDM commands use) derived from its parts: the same parts give the same UUID. A
 * handler that queues an MDM command passes `stableUuid(meta.eventId, 'what for')` as its CommandUUID, so a
 * retried delivery queues nothing twice.
 */
export function stableUuid(...parts: readonly string[]): string {
  const h = createHash('sha256').update(parts.join('\n')).digest('hex');
  const variant = ((Number.parseInt(h[16], 16) & 3) | 8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
}

/**
 * Domain events. Plugins add their own with declaration merging:
 *   declare module 'enrollment-gateway/sdk' { interface DomainEvents { 'x.happened': { id: string } } }
 * A plugin must list the events it emits in its definition; the bus refuses undeclared ones.
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
     * Since 1.1: the same for every raise of this fact (one unenrollment of one enrollment). A worker that
     * crashed after raising it raises it again; consumers drop repeats by this id (webhooks send it as the
     * delivery id).
     */
    eventId?: string;
  };
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
}

export type DomainEventName = keyof DomainEvents;

export interface EventPublisher {
  emit<K extends DomainEventName>(event: K, payload: DomainEvents[K]): Promise<void>;
}

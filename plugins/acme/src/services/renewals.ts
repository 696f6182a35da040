/**
 * Renewal of attested ACME identities before they expire. Apple's devices do not renew an MDM identity on their own:
 * the server replaces the enrollment profile (InstallProfile, same identifier) with one whose com.apple.security.acme
 * payload carries a renewal ClientIdentifier bound to the device's enrollment, UDID and serial number. The device
 * runs ACME again with a fresh attestation and signs with the new identity from then on.
 */
import { randomUUID } from 'node:crypto';
import {
  type DeviceDirectory,
  type DeviceIdentityIssuer,
  DeviceIdentityRefusedError,
  type DeviceRecord,
  type DomainEvents,
  stableUuid,
} from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import type { PropertyRecords } from '../storage/property-records.js';
import type { OrderFactDoc, OrderRecords } from '../storage/records.js';
import { acmePayload, type IdentityPayloads } from './identity-payload.js';

export interface RenewalDeps {
  publicUrl: string;
  orders: OrderRecords;
  records: PropertyRecords;
  payloads: IdentityPayloads;
  issuer: () => DeviceIdentityIssuer;
  directory: () => DeviceDirectory;
  /** Renew identities that expire within this many days. */
  windowDays: number;
  /** Renewals the device answered with an error. */
  failures: { inc(): void };
  logger: Logger;
}

/** Thrown when mdm offers no way to deliver a payload (an mdm older than SDK 2.10). */
export class RenewalUnavailableError extends Error {}

export class IdentityRenewals {
  constructor(private readonly deps: RenewalDeps) {}

  /**
   * Delivers a renewal to every enrolled device whose newest ACME identity expires within the window and has no
   * renewal yet. Returns how many were queued. Safe to run on several workers: the CommandUUID is derived from the
   * certificate, so a renewal is queued once.
   */
  async renewDue(now = new Date()): Promise<number> {
    const horizon = new Date(now.getTime() + this.deps.windowDays * 86_400_000);
    const due = await this.deps.orders.finalizedExpiringBefore(horizon);
    const enrollmentIds = [...new Set(due.flatMap((fact) => (fact.enrollmentId ? [fact.enrollmentId] : [])))];
    const newest = newestPerEnrollment(await this.deps.orders.finalizedForEnrollments(enrollmentIds));
    let queued = 0;
    for (const fact of due) {
      if (!fact.enrollmentId || !fact.udid || !fact.certificateSerial) continue;
      if (newest.get(fact.enrollmentId)?._id !== fact._id) continue;
      const tries = await this.deps.records.renewalFailures(fact.certificateSerial);
      const commandUuid = stableUuid('acme renewal', fact.certificateSerial, String(tries));
      if (await this.deps.records.renewalExists(commandUuid)) continue;
      const device = await this.deps.directory().getByUdid(fact.udid);
      if (device?.state !== 'enrolled' || device.enrollmentId !== fact.enrollmentId) continue;
      try {
        if (await this.deliver(device, commandUuid, fact.certificateSerial)) queued++;
      } catch (error) {
        if (error instanceof RenewalUnavailableError) throw error;
        // One device's failure (a contributor's veto of the rebuilt profile, a passing fault) waits for the next run.
        this.deps.logger.warn({ err: error, deviceId: device.id }, 'ACME renewal failed; retried at the next run');
      }
    }
    return queued;
  }

  /** A renewal the device refused (InstallProfile answered with an error) is recorded, so the next run tries again. */
  async onCommandResult(event: DomainEvents['command.result']): Promise<void> {
    if (event.requestType !== 'InstallProfile') return;
    if (event.status !== 'Error' && event.status !== 'CommandFormatError') return;
    const renewal = await this.deps.records.renewal(event.commandUuid);
    if (!renewal) return;
    const chain = event.result.ErrorChain;
    const first = Array.isArray(chain) ? (chain[0] as { USEnglishDescription?: unknown } | undefined) : undefined;
    const detail = typeof first?.USEnglishDescription === 'string' ? first.USEnglishDescription : undefined;
    await this.deps.records.recordRenewalFailure({
      _id: event.commandUuid,
      certificateSerial: renewal.certificateSerial,
      status: event.status,
      detail,
      at: new Date(),
    });
    this.deps.failures.inc();
    this.deps.logger.warn(
      { deviceId: event.deviceId, status: event.status, detail },
      'the device refused its ACME renewal',
    );
  }

  /** An admin's renewal of an enrolled device, now: the InstallProfile CommandUUID, or undefined when refused. */
  async renewNow(device: DeviceRecord): Promise<string | undefined> {
    const commandUuid = randomUUID().toUpperCase();
    return (await this.deliver(device, commandUuid, undefined, 'admin')) ? commandUuid : undefined;
  }

  private async deliver(
    device: DeviceRecord,
    commandUuid: string,
    certificateSerial: string | undefined,
    origin = 'acme',
  ): Promise<boolean> {
    const issuer = this.deps.issuer();
    if (!issuer.deliverIdentityPayload || !device.enrollmentId)
      throw new RenewalUnavailableError('the mdm plugin cannot deliver identity payloads (SDK 2.10)');
    const enrollmentId = device.enrollmentId;
    const clientIdentifier = await this.deps.payloads.mint({
      enrollmentId,
      purpose: 'renewal',
      udid: device.udid,
      serialNumber: device.serialNumber,
    });
    try {
      await issuer.deliverIdentityPayload({
        deviceId: device.id,
        enrollmentId,
        identityPayload: acmePayload(this.deps.publicUrl, clientIdentifier, enrollmentId),
        commandUuid,
        origin,
      });
    } catch (error) {
      if (!DeviceIdentityRefusedError.is(error)) throw error;
      this.deps.logger.info({ deviceId: device.id, reason: error.message }, 'ACME renewal not delivered');
      return false;
    }
    // Recorded after the command is queued: a crash in between repeats the delivery, which queues nothing new.
    await this.deps.records.recordRenewal({
      _id: commandUuid,
      deviceId: device.id,
      enrollmentId,
      certificateSerial,
      origin,
      requestedAt: new Date(),
    });
    this.deps.logger.info({ deviceId: device.id, commandUuid, certificateSerial }, 'ACME renewal delivered');
    return true;
  }
}

function newestPerEnrollment(facts: readonly OrderFactDoc[]): Map<string, OrderFactDoc> {
  const newest = new Map<string, OrderFactDoc>();
  for (const fact of facts) {
    if (!fact.enrollmentId) continue;
    const known = newest.get(fact.enrollmentId);
    if (!known || known.at < fact.at) newest.set(fact.enrollmentId, fact);
  }
  return newest;
}

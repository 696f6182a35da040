/**
 * DevicePropertiesAttestation (DeviceInformation, iOS/iPadOS 16+): the gateway sends a fresh DeviceAttestationNonce,
 * the device has Apple attest its properties, and answers with the certificate chain, leaf first. The gateway checks
 * the chain to the configured attestation root (Apple Enterprise Attestation Root CA), the freshness code against
 * the nonces it sent this device, and the attested UDID and serial number against the device that answered, then
 * stores the attested properties.
 */
import { randomBytes, randomUUID, type X509Certificate } from 'node:crypto';
import type { DeviceCommandService, DeviceDirectory, DeviceRecord, DomainEvents } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import { readAttestedProperties, verifyChain } from '../protocol/attestation.js';
import { AcmeProblem } from '../protocol/problems.js';
import type { PropertyAttestationDoc, PropertyRecords, PropertyRequestDoc } from '../storage/property-records.js';

/** Asked together: the attestation, and what it is compared with. */
export const PROPERTY_QUERIES = ['DevicePropertiesAttestation', 'UDID', 'SerialNumber', 'OSVersion'] as const;

export type PropertyRefusalReason = 'malformed' | 'chain' | 'freshness' | 'device-mismatch';

/** An attestation the gateway does not believe: nothing is stored, the refusal is counted and logged. */
export class PropertyAttestationRefused extends Error {
  constructor(
    readonly reason: PropertyRefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export interface PropertyAttestationDeps {
  records: PropertyRecords;
  commands: () => DeviceCommandService;
  directory: () => DeviceDirectory;
  anchors: readonly X509Certificate[];
  minimumOsVersion: number;
  refusals: { inc(labels: { reason: PropertyRefusalReason }): void };
  logger: Logger;
}

/** iOS/iPadOS from `minimumOsVersion` (16) on attest their properties; the OS version is Authenticate's. */
export function canAttestProperties(device: DeviceRecord, minimumOsVersion: number): boolean {
  const apple = /^(iPhone|iPad)/.test(device.productName ?? '');
  return apple && Number.parseInt(device.osVersion ?? '', 10) >= minimumOsVersion;
}

const refuse = (reason: PropertyRefusalReason, message: string): never => {
  throw new PropertyAttestationRefused(reason, message);
};

export class PropertyAttestations {
  constructor(private readonly deps: PropertyAttestationDeps) {}

  /**
   * Queues DeviceInformation with a new nonce for an iOS/iPadOS 16+ device; undefined for other devices. The same
   * CommandUUID (a retried event) queues once and keeps the nonce recorded first.
   */
  async request(deviceId: string, commandUuid: string = randomUUID().toUpperCase()): Promise<string | undefined> {
    const device = await this.deps.directory().get(deviceId);
    if (!device || !canAttestProperties(device, this.deps.minimumOsVersion)) return undefined;
    await this.deps.records.recordRequest({
      _id: commandUuid,
      deviceId,
      udid: device.udid,
      nonce: randomBytes(32).toString('base64'),
      requestedAt: new Date(),
    });
    const recorded = await this.deps.records.request(commandUuid);
    if (!recorded) throw new Error(`attestation request ${commandUuid} was not recorded`);
    await this.deps.commands().enqueue([deviceId], {
      commandUuid,
      requestType: 'DeviceInformation',
      payload: { Queries: [...PROPERTY_QUERIES], DeviceAttestationNonce: Buffer.from(recorded.nonce, 'base64') },
      origin: 'acme',
    });
    return commandUuid;
  }

  /** Every acknowledged DeviceInformation that carries DevicePropertiesAttestation, whoever asked. */
  async onCommandResult(event: DomainEvents['command.result']): Promise<void> {
    if (event.requestType !== 'DeviceInformation' || event.status !== 'Acknowledged') return;
    const responses = event.result.QueryResponses as Record<string, unknown> | undefined;
    const chain = responses?.DevicePropertiesAttestation;
    if (chain === undefined) return;
    try {
      await this.deps.records.recordAttestation(await this.verify(event, chain));
    } catch (error) {
      if (!(error instanceof PropertyAttestationRefused)) throw error;
      this.deps.refusals.inc({ reason: error.reason });
      this.deps.logger.warn(
        { deviceId: event.deviceId, commandUuid: event.commandUuid, reason: error.reason, detail: error.message },
        'DevicePropertiesAttestation refused',
      );
    }
  }

  private async verify(event: DomainEvents['command.result'], chain: unknown): Promise<PropertyAttestationDoc> {
    if (!Array.isArray(chain) || chain.length === 0 || !chain.every((cert) => Buffer.isBuffer(cert)))
      return refuse('malformed', 'DevicePropertiesAttestation must be an array of DER certificates');
    const properties = checked('chain', () => {
      verifyChain(chain, this.deps.anchors);
      return readAttestedProperties(chain[0]);
    });
    const device = await this.deps.directory().get(event.deviceId);
    const otherUdid = properties.udid !== undefined && properties.udid !== event.udid;
    const otherSerial =
      properties.serialNumber !== undefined &&
      device?.serialNumber !== undefined &&
      properties.serialNumber !== device.serialNumber;
    if (otherUdid || otherSerial) refuse('device-mismatch', 'the attestation names another device');
    const requests = await this.deps.records.requestsOf(event.deviceId);
    const matched = matchingRequest(requests, properties.freshnessCode);
    if (!matched) return refuse('freshness', 'the freshness code is none of the nonces sent to this device');
    return {
      _id: event.commandUuid,
      deviceId: event.deviceId,
      udid: event.udid,
      serialNumber: properties.serialNumber,
      osVersion: properties.osVersion,
      sepOsVersion: properties.sepOsVersion,
      llbVersion: properties.llbVersion,
      softwareUpdateDeviceId: properties.softwareUpdateDeviceId,
      fresh: matched._id === event.commandUuid,
      attestedSince: matched.requestedAt,
      verifiedAt: new Date(),
    };
  }
}

/** Apple puts the DeviceAttestationNonce itself in the freshness code; a cached attestation carries an older one. */
function matchingRequest(
  requests: readonly PropertyRequestDoc[],
  freshnessCode: Buffer | undefined,
): PropertyRequestDoc | undefined {
  if (!freshnessCode) return undefined;
  return requests.find((request) => Buffer.from(request.nonce, 'base64').equals(freshnessCode));
}

/** Runs a chain/leaf check, turning its ACME refusal into this flow's. */
function checked<T>(reason: PropertyRefusalReason, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (AcmeProblem.isAcme(error)) return refuse(reason, error.detail ?? error.message);
    throw error;
  }
}

import { modelOn } from 'enrollment-gateway/sdk';
/**
 * DevicePropertiesAttestation and identity renewal records. Insert-only, one writer per collection:
 *
 * | Collection                 | Writer (insert only)                                   | Readers                      |
 * | acme_property_requests     | request role (device.enrolled, admin route): _id = CommandUUID | command.result handler |
 * | acme_property_attestations | command.result handler (_id = CommandUUID: one answer)  | status items, admin route    |
 * | acme_renewals              | renewal role (sweep, admin route): _id = CommandUUID    | the sweep (skip the renewed) |
 * | acme_renewal_failures      | command.result handler: _id = the failed CommandUUID    | the sweep (try again)        |
 */
import { type Connection, Schema } from 'mongoose';
import { insertOnce } from './records.js';

export interface PropertyRequestDoc {
  /** The DeviceInformation CommandUUID. */
  _id: string;
  deviceId: string;
  udid: string;
  /** base64 of the DeviceAttestationNonce sent (32 random bytes): the freshness code a fresh attestation carries. */
  nonce: string;
  requestedAt: Date;
}

export interface PropertyAttestationDoc {
  /** The CommandUUID it answered. */
  _id: string;
  deviceId: string;
  udid: string;
  serialNumber?: string;
  osVersion?: string;
  sepOsVersion?: string;
  llbVersion?: string;
  softwareUpdateDeviceId?: string;
  /** False when the device returned an attestation cached for one of our earlier nonces (Apple's 7-day cache). */
  fresh: boolean;
  /** When the nonce the attestation carries was sent: the attestation is at least this recent. */
  attestedSince: Date;
  verifiedAt: Date;
}

export interface RenewalDoc {
  /** The InstallProfile CommandUUID. */
  _id: string;
  deviceId: string;
  enrollmentId: string;
  /** The identity being replaced (absent for an admin's renewal of no particular certificate). */
  certificateSerial?: string;
  origin: string;
  requestedAt: Date;
}

/** The device answered a renewal's InstallProfile with an error: the next run of the sweep tries again. */
export interface RenewalFailureDoc {
  _id: string;
  certificateSerial?: string;
  status: string;
  detail?: string;
  at: Date;
}

const options = { versionKey: false } as const;

export function propertyModels(mongo: Connection) {
  return {
    requests: modelOn(
      mongo,
      'AcmePropertyRequest',
      new Schema<PropertyRequestDoc>(
        { _id: String, deviceId: { type: String, index: true }, udid: String, nonce: String, requestedAt: Date },
        { ...options, collection: 'acme_property_requests' },
      ),
    ),
    attestations: modelOn(
      mongo,
      'AcmePropertyAttestation',
      new Schema<PropertyAttestationDoc>(
        {
          _id: String,
          deviceId: { type: String, index: true },
          udid: String,
          serialNumber: String,
          osVersion: String,
          sepOsVersion: String,
          llbVersion: String,
          softwareUpdateDeviceId: String,
          fresh: Boolean,
          attestedSince: Date,
          verifiedAt: Date,
        },
        { ...options, collection: 'acme_property_attestations' },
      ),
    ),
    renewals: modelOn(
      mongo,
      'AcmeRenewal',
      new Schema<RenewalDoc>(
        {
          _id: String,
          deviceId: String,
          enrollmentId: String,
          certificateSerial: String,
          origin: String,
          requestedAt: Date,
        },
        { ...options, collection: 'acme_renewals' },
      ),
    ),
    renewalFailures: modelOn(
      mongo,
      'AcmeRenewalFailure',
      new Schema<RenewalFailureDoc>(
        { _id: String, certificateSerial: { type: String, index: true }, status: String, detail: String, at: Date },
        { ...options, collection: 'acme_renewal_failures' },
      ),
    ),
  };
}
export type PropertyModels = ReturnType<typeof propertyModels>;

/** The attestation roles' reads and inserts (no joins: by _id and by the deviceId index). */
export class PropertyRecords {
  constructor(private readonly models: PropertyModels) {}

  /** True for the one caller that recorded the request; a repeat (a retried event) finds it with `request`. */
  recordRequest(doc: PropertyRequestDoc): Promise<boolean> {
    return insertOnce(this.models.requests, doc);
  }

  request(commandUuid: string): Promise<PropertyRequestDoc | null> {
    return this.models.requests.findById(commandUuid).lean<PropertyRequestDoc>();
  }

  requestsOf(deviceId: string): Promise<PropertyRequestDoc[]> {
    return this.models.requests.find({ deviceId }).lean<PropertyRequestDoc[]>();
  }

  recordAttestation(doc: PropertyAttestationDoc): Promise<boolean> {
    return insertOnce(this.models.attestations, doc);
  }

  /** Each device's most recent verified attestation. */
  async latest(deviceIds: readonly string[]): Promise<Map<string, PropertyAttestationDoc>> {
    const docs = await this.models.attestations
      .find({ deviceId: { $in: [...deviceIds] } })
      .lean<PropertyAttestationDoc[]>();
    const latest = new Map<string, PropertyAttestationDoc>();
    for (const doc of docs) {
      const known = latest.get(doc.deviceId);
      if (!known || known.verifiedAt < doc.verifiedAt) latest.set(doc.deviceId, doc);
    }
    return latest;
  }

  recordRenewal(doc: RenewalDoc): Promise<boolean> {
    return insertOnce(this.models.renewals, doc);
  }

  async renewalExists(commandUuid: string): Promise<boolean> {
    return (await this.models.renewals.exists({ _id: commandUuid })) !== null;
  }

  renewal(commandUuid: string): Promise<RenewalDoc | null> {
    return this.models.renewals.findById(commandUuid).lean<RenewalDoc>();
  }

  recordRenewalFailure(doc: RenewalFailureDoc): Promise<boolean> {
    return insertOnce(this.models.renewalFailures, doc);
  }

  /** How many renewals of this identity the device refused: the next try's CommandUUID counts them. */
  renewalFailures(certificateSerial: string): Promise<number> {
    return this.models.renewalFailures.countDocuments({ certificateSerial });
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.models.requests.createIndexes(),
      this.models.attestations.createIndexes(),
      this.models.renewalFailures.createIndexes(),
    ]);
  }
}

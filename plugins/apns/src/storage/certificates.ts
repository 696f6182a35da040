import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * One document per key the gateway generated or certificate it installed. `pending`: a CSR key waiting for
 * Apple's certificate; `active`: the push certificate in use (one at a time); `retired`: replaced.
 * The private key is sealed with the key vault under the context "apns:<_id>".
 */
export interface PushCertificateDoc {
  _id: string;
  state: 'pending' | 'active' | 'retired';
  keySealed: string;
  csrPem?: string;
  certPem?: string;
  topic?: string;
  notBefore?: Date;
  notAfter?: Date;
  serialHex?: string;
  fingerprint?: string;
  environments?: string[];
  /** Expiry thresholds announced before warnings had their own records (apns_certificate_warnings). */
  warned?: number[];
  createdBy: string;
  createdAt: Date;
  activatedAt?: Date;
  retiredAt?: Date;
}

const schema = new Schema<PushCertificateDoc>(
  {
    _id: { type: String, required: true },
    state: { type: String, required: true, enum: ['pending', 'active', 'retired'] },
    keySealed: { type: String, required: true },
    csrPem: String,
    certPem: String,
    topic: String,
    notBefore: Date,
    notAfter: Date,
    serialHex: String,
    fingerprint: String,
    environments: [String],
    warned: [Number],
    createdBy: { type: String, required: true },
    createdAt: { type: Date, required: true },
    activatedAt: Date,
    retiredAt: Date,
  },
  { collection: 'apns_certificates', versionKey: false },
);
schema.index({ state: 1, activatedAt: -1 });

interface WarningDoc {
  _id: string;
  certificateId: string;
  threshold: number;
  at: Date;
}

const warningSchema = new Schema<WarningDoc>(
  {
    _id: { type: String, required: true },
    certificateId: { type: String, required: true },
    threshold: { type: Number, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'apns_certificate_warnings', versionKey: false },
);

/**
 * The admin's role (create a CSR, install, retire): certificate documents. Nothing else writes them, because FerretDB
 * applies an update by rewriting the whole document and the expiry job marking a warning on the certificate an
 * install was retiring could put it back active.
 */
export interface PushCertificateRecords {
  insert(doc: PushCertificateDoc): Promise<void>;
  get(id: string): Promise<PushCertificateDoc | undefined>;
  /** The newest active certificate. */
  active(): Promise<PushCertificateDoc | undefined>;
  activeTopic(): Promise<Pick<PushCertificateDoc, 'topic' | 'notAfter'> | undefined>;
  pending(limit: number): Promise<PushCertificateDoc[]>;
  /**
   * After `id` was inserted active: retires every active certificate older in (activatedAt, _id) order, then `id`
   * itself when a newer one is already active. Whichever of two concurrent installs inserted second sees the other
   * in one of the two steps, so exactly one stays active.
   */
  settleActive(id: string, activatedAt: Date, now: Date): Promise<void>;
  deletePending(id: string): Promise<void>;
}

/** The expiry job's role: each announced threshold, by unique insert, so exactly one replica announces it. */
export interface CertificateWarnings {
  /** True when `threshold` is new for the certificate. */
  markWarned(certificate: Pick<PushCertificateDoc, '_id' | 'warned'>, threshold: number): Promise<boolean>;
}

const MODEL = 'ApnsCertificate';

export type PushCertificateModel = Model<PushCertificateDoc>;

export class MongoPushCertificates implements PushCertificateRecords, CertificateWarnings {
  private readonly certificates: Model<PushCertificateDoc>;
  private readonly warnings: Model<WarningDoc>;

  constructor(connection: Connection) {
    this.certificates = modelOn(connection, MODEL, schema);
    this.warnings = modelOn(connection, 'ApnsCertificateWarning', warningSchema);
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([this.certificates.init(), this.warnings.init()]);
  }

  async insert(doc: PushCertificateDoc): Promise<void> {
    await this.certificates.create(doc);
  }

  async get(id: string): Promise<PushCertificateDoc | undefined> {
    return (await this.certificates.findById(id).lean<PushCertificateDoc>()) ?? undefined;
  }

  async active(): Promise<PushCertificateDoc | undefined> {
    const doc = await this.certificates.findOne({ state: 'active' }).sort({ activatedAt: -1, _id: -1 }).lean();
    return (doc as PushCertificateDoc | null) ?? undefined;
  }

  async activeTopic(): Promise<Pick<PushCertificateDoc, 'topic' | 'notAfter'> | undefined> {
    const doc = await this.certificates
      .findOne({ state: 'active' }, { topic: 1, notAfter: 1 })
      .sort({ activatedAt: -1, _id: -1 })
      .lean();
    return doc ?? undefined;
  }

  pending(limit: number): Promise<PushCertificateDoc[]> {
    return this.certificates.find({ state: 'pending' }).sort({ createdAt: -1 }).limit(limit).lean().exec();
  }

  async settleActive(id: string, activatedAt: Date, now: Date): Promise<void> {
    // Two installs at once must not retire each other: only certificates older in (activatedAt, _id) order go.
    await this.certificates.updateMany(
      {
        state: 'active',
        _id: { $ne: id },
        $or: [{ activatedAt: { $lt: activatedAt } }, { activatedAt, _id: { $lt: id } }],
      },
      { $set: { state: 'retired', retiredAt: now } },
    );
    // The other install may have run its retirement before this certificate existed: then this one steps down.
    const newer = await this.certificates.exists({
      state: 'active',
      $or: [{ activatedAt: { $gt: activatedAt } }, { activatedAt, _id: { $gt: id } }],
    });
    if (newer)
      await this.certificates.updateOne({ _id: id, state: 'active' }, { $set: { state: 'retired', retiredAt: now } });
  }

  async deletePending(id: string): Promise<void> {
    await this.certificates.deleteOne({ _id: id, state: 'pending' });
  }

  async markWarned(certificate: Pick<PushCertificateDoc, '_id' | 'warned'>, threshold: number): Promise<boolean> {
    if (certificate.warned?.includes(threshold)) return false;
    try {
      await this.warnings.create({
        _id: `${certificate._id}:${threshold}`,
        certificateId: certificate._id,
        threshold,
        at: new Date(),
      });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }
}

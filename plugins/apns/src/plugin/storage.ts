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
  /** Expiry thresholds (days) already announced for this certificate. */
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

const MODEL = 'ApnsCertificate';

export type PushCertificateModel = Model<PushCertificateDoc>;

export function pushCertificateModel(mongo: Connection): PushCertificateModel {
  return (mongo.models[MODEL] as PushCertificateModel | undefined) ?? mongo.model<PushCertificateDoc>(MODEL, schema);
}

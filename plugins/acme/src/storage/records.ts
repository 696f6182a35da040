/**
 * ACME records. Every collection changes only by insert (one writer per record): a transition of an order is a fact
 * with a deterministic _id, so "happens once" is the unique insert itself.
 *
 * | Collection            | Writer (insert only)                                   | Readers                     |
 * | acme_accounts         | newAccount request (_id = JWK thumbprint)              | every kid request           |
 * | acme_client_ids       | profile download (identity contributor), renewal route | newOrder                    |
 * | acme_orders           | newOrder (unique clientIdHash: one order per identifier)| order routes               |
 * | acme_order_facts      | challenge (attested), finalize (claim, finalized)      | order routes, status items  |
 * | acme_profile_choices  | admin request (replace whole; one admin role)          | identity contributor        |
 */
import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import type { JWK } from 'jose';
import { type Connection, type Model, Schema } from 'mongoose';

export interface AccountDoc {
  _id: string;
  jwk: JWK;
  createdAt: Date;
}

export interface ClientIdDoc {
  /** SHA-256 (hex) of the ClientIdentifier: the identifier itself is a bearer secret. */
  _id: string;
  enrollmentId: string;
  purpose: 'enrollment' | 'renewal';
  /** For renewal: the UDID and serial number of the device the enrollment is bound to. */
  udid?: string;
  serialNumber?: string;
  expiresAt: Date;
  createdAt: Date;
}

export interface OrderDoc {
  _id: string;
  accountId: string;
  clientIdHash: string;
  identifier: string;
  token: string;
  expiresAt: Date;
  createdAt: Date;
}

export interface AttestedProperties {
  serialNumber: string;
  udid: string;
  osVersion?: string;
  sepOsVersion?: string;
  /** base64 DER SubjectPublicKeyInfo of the attested key. */
  publicKeySpki: string;
}

export type OrderFactKind = 'attested' | 'finalizing' | 'finalized';

export interface OrderFactDoc {
  _id: string;
  orderId: string;
  kind: OrderFactKind;
  at: Date;
  attested?: AttestedProperties;
  udid?: string;
  certificateSerial?: string;
  /** PEM chain: the identity, then the gateway CA. */
  certificatePem?: string;
  /** Finalized facts since renewals are delivered: the enrollment and the identity's expiry, for the renewal sweep. */
  enrollmentId?: string;
  notAfter?: Date;
}

export interface ProfileChoiceDoc {
  _id: string;
  identity: 'acme-preferred' | 'scep-only';
  updatedAt: Date;
  updatedBy: string;
}

export const factId = (orderId: string, kind: OrderFactKind) => `${orderId}:${kind}`;

const options = { versionKey: false } as const;

export function acmeModels(mongo: Connection) {
  return {
    accounts: modelOn(
      mongo,
      'AcmeAccount',
      new Schema<AccountDoc>(
        { _id: String, jwk: Schema.Types.Mixed, createdAt: Date },
        { ...options, collection: 'acme_accounts' },
      ),
    ),
    clientIds: modelOn(
      mongo,
      'AcmeClientId',
      new Schema<ClientIdDoc>(
        {
          _id: String,
          enrollmentId: String,
          purpose: String,
          udid: String,
          serialNumber: String,
          expiresAt: Date,
          createdAt: Date,
        },
        { ...options, collection: 'acme_client_ids' },
      ),
    ),
    orders: modelOn(
      mongo,
      'AcmeOrder',
      new Schema<OrderDoc>(
        {
          _id: String,
          accountId: String,
          clientIdHash: { type: String, unique: true },
          identifier: String,
          token: String,
          expiresAt: Date,
          createdAt: Date,
        },
        { ...options, collection: 'acme_orders' },
      ),
    ),
    facts: modelOn(
      mongo,
      'AcmeOrderFact',
      new Schema<OrderFactDoc>(
        {
          _id: String,
          orderId: { type: String, index: true },
          kind: String,
          at: Date,
          attested: Schema.Types.Mixed,
          udid: { type: String, index: true },
          certificateSerial: { type: String, index: true },
          certificatePem: String,
          enrollmentId: String,
          notAfter: Date,
        },
        { ...options, collection: 'acme_order_facts' },
      ),
    ),
    profileChoices: modelOn(
      mongo,
      'AcmeProfileChoice',
      new Schema<ProfileChoiceDoc>(
        { _id: String, identity: String, updatedAt: Date, updatedBy: String },
        { ...options, collection: 'acme_profile_choices' },
      ),
    ),
  };
}
export type AcmeModels = ReturnType<typeof acmeModels>;

/** A unique insert: true for the one caller that inserted, false when the _id (or a unique key) exists. */
export async function insertOnce<T>(target: Model<T>, doc: T): Promise<boolean> {
  try {
    await target.collection.insertOne(doc as Parameters<typeof target.collection.insertOne>[0]);
    return true;
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
}

/** The order role's view: an order and its facts, read by _id and index (no joins). */
export class OrderRecords {
  constructor(private readonly models: AcmeModels) {}

  order(orderId: string): Promise<OrderDoc | null> {
    return this.models.orders.findById(orderId).lean<OrderDoc>();
  }

  orderForClientId(clientIdHash: string): Promise<OrderDoc | null> {
    return this.models.orders.findOne({ clientIdHash }).lean<OrderDoc>();
  }

  async facts(orderId: string): Promise<Map<OrderFactKind, OrderFactDoc>> {
    const docs = await this.models.facts.find({ orderId }).lean<OrderFactDoc[]>();
    return new Map(docs.map((doc) => [doc.kind, doc]));
  }

  createOrder(doc: OrderDoc): Promise<boolean> {
    return insertOnce(this.models.orders, doc);
  }

  recordFact(doc: OrderFactDoc): Promise<boolean> {
    return insertOnce(this.models.facts, doc);
  }

  finalizedByUdid(udids: readonly string[]): Promise<OrderFactDoc[]> {
    return this.models.facts.find({ kind: 'finalized', udid: { $in: [...udids] } }).lean<OrderFactDoc[]>();
  }

  /** Identities expiring before `horizon` (facts written before expiry was recorded are not found). */
  finalizedExpiringBefore(horizon: Date): Promise<OrderFactDoc[]> {
    return this.models.facts.find({ kind: 'finalized', notAfter: { $lt: horizon } }).lean<OrderFactDoc[]>();
  }

  finalizedForEnrollments(enrollmentIds: readonly string[]): Promise<OrderFactDoc[]> {
    return this.models.facts
      .find({ kind: 'finalized', enrollmentId: { $in: [...enrollmentIds] } }, { certificatePem: 0 })
      .lean<OrderFactDoc[]>();
  }

  finalizedBySerial(serial: string): Promise<OrderFactDoc | null> {
    return this.models.facts.findOne({ kind: 'finalized', certificateSerial: serial }).lean<OrderFactDoc>();
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([this.models.orders.createIndexes(), this.models.facts.createIndexes()]);
  }
}

/** Accounts and client identifiers: insert-only lookups. */
export class IdentityRecords {
  constructor(private readonly models: AcmeModels) {}

  account(id: string): Promise<AccountDoc | null> {
    return this.models.accounts.findById(id).lean<AccountDoc>();
  }

  createAccount(doc: AccountDoc): Promise<boolean> {
    return insertOnce(this.models.accounts, doc);
  }

  clientId(hash: string): Promise<ClientIdDoc | null> {
    return this.models.clientIds.findById(hash).lean<ClientIdDoc>();
  }

  createClientId(doc: ClientIdDoc): Promise<boolean> {
    return insertOnce(this.models.clientIds, doc);
  }

  async profileChoice(profileId: string): Promise<ProfileChoiceDoc['identity'] | undefined> {
    return (await this.models.profileChoices.findById(profileId).lean<ProfileChoiceDoc>())?.identity;
  }

  /** The admin role is the one writer of a profile's choice: the whole record is replaced. */
  async setProfileChoice(doc: ProfileChoiceDoc): Promise<void> {
    await this.models.profileChoices.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }
}

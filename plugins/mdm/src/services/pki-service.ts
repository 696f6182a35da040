import type { KeyVault } from 'enrollment-gateway/sdk';
import { isDuplicateKeyError } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  createProfileSigner,
  issueSigningCertificate,
  loadCertificateAuthority,
  type ProfileSigner,
  summarizeCertificate,
} from '../pki/index.js';
import type { MdmModels, PkiDoc } from '../storage/models.js';

export interface PkiMaterial {
  ca: CertificateAuthority;
  signer: ProfileSigner;
  signingCertPem: string;
}

/**
 * The gateway's CA and profile-signing certificate. Created on first start (or imported), stored
 * with keys sealed under the master key, and loaded once per process: they are immutable, so
 * replicas holding them in memory stay consistent.
 */
export class PkiService {
  private material?: Promise<PkiMaterial>;

  constructor(
    private readonly models: MdmModels,
    private readonly vault: KeyVault,
    private readonly logger: Logger,
    private readonly organization: string,
  ) {}

  get(): Promise<PkiMaterial> {
    this.material ??= this.loadOrCreate().catch((error: unknown) => {
      this.material = undefined;
      throw error;
    });
    return this.material;
  }

  /** Re-seals keys sealed under a previous master key (rotation); returns how many were re-sealed. */
  async resealKeys(): Promise<number> {
    let resealed = 0;
    for (const doc of (await this.models.pki.find().lean()) as PkiDoc[]) {
      if (!this.vault.needsRotation(doc.keySealed)) continue;
      const keySealed = this.vault.seal(this.vault.open(doc.keySealed, `mdm-pki:${doc._id}`), `mdm-pki:${doc._id}`);
      await this.models.pki.updateOne({ _id: doc._id, keySealed: doc.keySealed }, { $set: { keySealed } });
      resealed++;
    }
    return resealed;
  }

  private open(doc: PkiDoc): { certPem: string; keyPem: string } {
    return { certPem: doc.certPem, keyPem: this.vault.open(doc.keySealed, `mdm-pki:${doc._id}`).toString('utf8') };
  }

  private async insertOrReload(doc: Omit<PkiDoc, 'createdAt'>): Promise<PkiDoc> {
    try {
      await this.models.pki.create(doc);
    } catch (error) {
      // Another replica created it first; use theirs.
      if (!isDuplicateKeyError(error)) throw error;
    }
    const stored = await this.models.pki.findById(doc._id).lean();
    if (!stored) throw new Error(`PKI record ${doc._id} vanished`);
    return stored as PkiDoc;
  }

  private seal(keyPem: string, id: PkiDoc['_id']): string {
    return this.vault.seal(Buffer.from(keyPem, 'utf8'), `mdm-pki:${id}`);
  }

  private async loadOrCreate(): Promise<PkiMaterial> {
    let caDoc = (await this.models.pki.findById('ca').lean()) as PkiDoc | null;
    if (!caDoc) {
      const created = createCertificateAuthority({
        commonName: `${this.organization} Device CA`,
        organization: this.organization,
        validityDays: 3650,
      });
      caDoc = await this.insertOrReload({
        _id: 'ca',
        certPem: created.certPem,
        keySealed: this.seal(created.keyPem, 'ca'),
      });
      this.logger.info({ subject: summarizeCertificate(caDoc.certPem).subject }, 'created the gateway CA');
    }
    const ca = loadCertificateAuthority(this.open(caDoc));
    let signingDoc = (await this.models.pki.findById('signing').lean()) as PkiDoc | null;
    if (!signingDoc) {
      const issued = issueSigningCertificate(ca, {
        commonName: `${this.organization} Profile Signing`,
        organization: this.organization,
        validityDays: 730,
      });
      signingDoc = await this.insertOrReload({
        _id: 'signing',
        certPem: issued.certPem,
        keySealed: this.seal(issued.keyPem, 'signing'),
      });
      this.logger.info('created the profile-signing certificate');
    }
    const signing = this.open(signingDoc);
    return {
      ca,
      signingCertPem: signing.certPem,
      signer: createProfileSigner({ certPem: signing.certPem, key: signing.keyPem, chainPems: [ca.certPem] }),
    };
  }

  /** Replaces the CA (and re-issues the signing certificate) from an existing CA the admin imports. */
  async importCa(certPem: string, keyPem: string): Promise<void> {
    const ca = loadCertificateAuthority({ certPem, keyPem });
    const issued = issueSigningCertificate(ca, {
      commonName: `${this.organization} Profile Signing`,
      organization: this.organization,
      validityDays: 730,
    });
    await this.models.pki.replaceOne(
      { _id: 'ca' },
      { _id: 'ca', certPem: ca.certPem, keySealed: this.seal(keyPem, 'ca') },
      { upsert: true },
    );
    await this.models.pki.replaceOne(
      { _id: 'signing' },
      { _id: 'signing', certPem: issued.certPem, keySealed: this.seal(issued.keyPem, 'signing') },
      { upsert: true },
    );
    this.material = undefined;
  }

  /** Problems that block serving profiles (missing or expired). */
  async problems(now = new Date()): Promise<{ item: 'ca' | 'signing-certificate'; problem: string }[]> {
    const { ca, signingCertPem } = await this.get();
    const found: { item: 'ca' | 'signing-certificate'; problem: string }[] = [];
    if (new Date(ca.certificate.validTo) <= now) found.push({ item: 'ca', problem: 'the CA certificate has expired' });
    if (summarizeCertificate(signingCertPem).notAfter <= now) {
      found.push({ item: 'signing-certificate', problem: 'the profile-signing certificate has expired' });
    }
    return found;
  }
}

import { randomUUID } from 'node:crypto';
import type { KeyVault } from 'enrollment-gateway/sdk';
import {
  checkRenewal,
  EXPIRY_WARNING_DAYS,
  expiryWarnings,
  generatePushCsr,
  type ParsedPushCertificate,
  PushCertificateError,
  type PushCsrSubject,
  parsePushCertificateUpload,
  signCsrWithVendorCertificate,
} from '../cert/index.js';
import type { CertificateWarnings, PushCertificateDoc, PushCertificateRecords } from '../storage/certificates.js';

/** The certificate the provider connects with; only the worker side ever holds the opened key. */
export interface ActivePushCertificate {
  id: string;
  certPem: string;
  keyPem: string;
  topic: string;
  notAfter: Date;
  fingerprint: string;
}

export interface ExpiryWarning {
  /** The threshold reached (30, 7 or 1 days), or 0 once expired. */
  threshold: number;
  level: 'warning' | 'critical';
  message: string;
}

/** What the admin API and the setup checklist show; never the key. */
export interface CertificateView {
  id: string;
  topic: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  expired: boolean;
  serial: string;
  fingerprint: string;
  environments: string[];
  installedAt: string;
  warnings: ExpiryWarning[];
}

export interface CertificateUpload {
  pem?: string;
  p12?: Buffer;
  password?: string;
}

export interface InstallResult {
  certificate: CertificateView;
  previous?: { topic: string; fingerprint: string };
  topicChanged: boolean;
}

const keyContext = (id: string) => `apns:${id}`;

/** Warnings for the log, the metric and the checklist: one per threshold reached, the nearest first. */
export function expiryWarningsFor(notAfter: Date, now = new Date()): ExpiryWarning[] {
  const status = expiryWarnings(notAfter, now);
  if (status.expired) {
    return [
      {
        threshold: 0,
        level: 'critical',
        message: `the Apple MDM push certificate expired on ${notAfter.toISOString()}: devices cannot be woken; renew it in Apple's Push Certificates Portal`,
      },
    ];
  }
  const nearest = status.crossed.at(-1);
  if (nearest === undefined) return [];
  return [
    {
      threshold: nearest,
      level: nearest <= 7 ? 'critical' : 'warning',
      message: `the Apple MDM push certificate expires in ${status.daysLeft} day(s), on ${notAfter.toISOString()}: renew it (same Apple ID, "Renew") and upload it`,
    },
  ];
}

export function viewOf(doc: PushCertificateDoc, now = new Date()): CertificateView {
  const notAfter = doc.notAfter as Date;
  const status = expiryWarnings(notAfter, now);
  return {
    id: doc._id,
    topic: doc.topic as string,
    notBefore: (doc.notBefore as Date).toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: status.daysLeft,
    expired: status.expired,
    serial: doc.serialHex as string,
    fingerprint: doc.fingerprint as string,
    environments: doc.environments ?? [],
    installedAt: (doc.activatedAt ?? doc.createdAt).toISOString(),
    warnings: expiryWarningsFor(notAfter, now),
  };
}

/**
 * The push certificate lifecycle: a key and CSR made here (the key never leaves sealed storage), optional
 * vendor signing into Apple's request file, then installing what Apple issued. Installing refuses anything
 * unusable (PushCertificateError) and leaves the current certificate in place until the new one is stored.
 */
export class PushCertificateService {
  constructor(
    private readonly records: PushCertificateRecords & CertificateWarnings,
    private readonly keyVault: KeyVault,
  ) {}

  async createCsr(subject: PushCsrSubject, createdBy: string): Promise<{ id: string; csrPem: string }> {
    const { csrPem, keyPem } = await generatePushCsr(subject);
    const id = randomUUID();
    await this.records.insert({
      _id: id,
      state: 'pending',
      keySealed: this.keyVault.seal(Buffer.from(keyPem), keyContext(id)),
      csrPem,
      createdBy,
      createdAt: new Date(),
    });
    return { id, csrPem };
  }

  /** The newest pending CSR, for vendor signing when the admin does not paste one. */
  async latestPendingCsr(): Promise<string | undefined> {
    const [doc] = await this.records.pending(1);
    return doc?.csrPem ?? undefined;
  }

  vendorSign(input: {
    csrPem: string;
    vendorCertPem: string;
    vendorKeyPem: string;
    vendorChainPems?: string[];
  }): string {
    return signCsrWithVendorCertificate(input);
  }

  async activeDoc(): Promise<PushCertificateDoc | undefined> {
    return this.records.active();
  }

  async current(): Promise<ActivePushCertificate | undefined> {
    const doc = await this.activeDoc();
    if (!doc?.certPem || !doc.topic || !doc.notAfter || !doc.fingerprint) return undefined;
    return {
      id: doc._id,
      certPem: doc.certPem,
      keyPem: this.keyVault.open(doc.keySealed, keyContext(doc._id)).toString('utf8'),
      topic: doc.topic,
      notAfter: doc.notAfter,
      fingerprint: doc.fingerprint,
    };
  }

  /** Topic of the current certificate while it is valid. */
  async currentTopic(now = new Date()): Promise<string | undefined> {
    const doc = await this.records.activeTopic();
    if (!doc?.topic || !doc.notAfter || doc.notAfter.getTime() <= now.getTime()) return undefined;
    return doc.topic;
  }

  async install(upload: CertificateUpload, options: { replaceTopic: boolean; by: string }): Promise<InstallResult> {
    const current = await this.activeDoc();
    const { parsed, pendingId } = await this.parseWithKnownKeys(upload, current);
    const renewal = checkRenewal(current?.topic ? { topic: current.topic } : undefined, parsed, {
      allowTopicChange: options.replaceTopic,
    });
    if (!renewal.ok) throw renewal.error;

    const id = randomUUID();
    const now = new Date();
    await this.records.insert({
      _id: id,
      state: 'active',
      keySealed: this.keyVault.seal(Buffer.from(parsed.keyPem), keyContext(id)),
      certPem: parsed.certPem,
      topic: parsed.topic,
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
      serialHex: parsed.serialHex,
      fingerprint: parsed.fingerprint,
      environments: parsed.environments,
      warned: [],
      createdBy: options.by,
      createdAt: now,
      activatedAt: now,
    });
    // The new one is in place before the old one is retired, so readers always find an active certificate.
    await this.records.settleActive(id, now, now);
    if (pendingId) await this.records.deletePending(pendingId);
    const installed = (await this.records.get(id)) as PushCertificateDoc;
    return {
      certificate: viewOf(installed, now),
      previous: current?.topic ? { topic: current.topic, fingerprint: current.fingerprint as string } : undefined,
      topicChanged: renewal.topicChanged,
    };
  }

  /** Records which thresholds were announced; true when `threshold` is new for this certificate. */
  async markWarned(id: string, threshold: number): Promise<boolean> {
    const doc = await this.records.get(id);
    return doc ? this.records.markWarned(doc, threshold) : false;
  }

  /**
   * Tries the upload with the keys the gateway holds: pending CSR keys (newest first), then the current
   * certificate's key (a renewal from the same CSR). A key inside the upload wins over all of them.
   */
  private async parseWithKnownKeys(
    upload: CertificateUpload,
    current: PushCertificateDoc | undefined,
  ): Promise<{ parsed: ParsedPushCertificate; pendingId?: string }> {
    const pending = await this.records.pending(5);
    const candidates: { id: string; pending: boolean; sealed: string }[] = pending.map((doc) => ({
      id: doc._id,
      pending: true,
      sealed: doc.keySealed,
    }));
    if (current) candidates.push({ id: current._id, pending: false, sealed: current.keySealed });
    if (candidates.length === 0) return { parsed: parsePushCertificateUpload(upload) };
    let mismatch: PushCertificateError | undefined;
    for (const candidate of candidates) {
      const keyPem = this.keyVault.open(candidate.sealed, keyContext(candidate.id)).toString('utf8');
      try {
        const parsed = parsePushCertificateUpload({ ...upload, keyPem });
        const usedStoredKey = parsed.keyPem.trim() === keyPem.trim();
        return { parsed, pendingId: candidate.pending && usedStoredKey ? candidate.id : undefined };
      } catch (error) {
        if (!(error instanceof PushCertificateError) || error.reason !== 'key-mismatch') throw error;
        mismatch = error;
      }
    }
    throw mismatch as PushCertificateError;
  }
}

export { EXPIRY_WARNING_DAYS };

import type { Logger } from 'pino';
import { certificateRevocation, type RevocationDoc } from '../storage/device-records.js';
import type { CertificateDoc, MdmModels } from '../storage/models.js';
import type { RevocationList } from './revocation-list.js';

/** The record of every issued device identity (insert-only), and its revocation (mdm_revocations). */
export class CertificateService {
  constructor(
    private readonly models: MdmModels,
    private readonly revocations: RevocationList,
    private readonly logger: Logger,
  ) {}

  /** Revokes one certificate: a device signing with it is refused from its next request on. */
  async revoke(serial: string, reason: string): Promise<{ certificate: CertificateDoc; revokedAt: Date } | undefined> {
    const certificate = await this.models.certificates.findById(serial).lean<CertificateDoc>();
    if (!certificate) return undefined;
    await this.revocations.revoke({ serial, enrollmentId: certificate.enrollmentId }, reason);
    const record = await this.models.revocations.findById(certificateRevocation(serial)).lean<RevocationDoc>();
    this.logger.info({ serial, reason, enrollmentId: certificate.enrollmentId }, 'revoked device identity certificate');
    return { certificate, revokedAt: record?.at ?? new Date() };
  }

  /** When each of these certificates was revoked (by itself or with its enrollment); legacy revokedAt first. */
  async revokedAt(certificates: readonly CertificateDoc[]): Promise<Map<string, Date>> {
    const ids = certificates.flatMap((c) => [
      certificateRevocation(c._id),
      ...(c.enrollmentId ? [`enrollment:${c.enrollmentId}`] : []),
    ]);
    const docs = await this.models.revocations.find({ _id: { $in: ids } }).lean<RevocationDoc[]>();
    const at = new Map(docs.map((d) => [d._id, d.at]));
    const out = new Map<string, Date>();
    for (const c of certificates) {
      const when =
        c.revokedAt ??
        at.get(certificateRevocation(c._id)) ??
        (c.enrollmentId ? at.get(`enrollment:${c.enrollmentId}`) : undefined);
      if (when) out.set(c._id, when);
    }
    return out;
  }
}

import { readFileSync } from 'node:fs';
import { ApnsClient } from '../provider/index.js';
import type { ActivePushCertificate, PushCertificateService } from './certificate-service.js';
import type { ApnsConfig } from './config.js';
import type { PushControl } from './wake-ledger.js';

export interface ConnectedProvider {
  client: ApnsClient;
  topic: string;
  notAfter: Date;
  fingerprint: string;
}

/**
 * One ApnsClient per process, built from the current push certificate. Each job asks for it; a changed
 * certificate version in Redis (any process installed a certificate) makes the next ask reload from the database
 * and, when the fingerprint changed, replace the client. The old client finishes its in-flight pushes and closes.
 */
export class ApnsProvider {
  private built?: ConnectedProvider;
  private seenVersion?: string | null;
  private loading?: Promise<ConnectedProvider | undefined>;
  private readonly ca?: string;
  private closed = false;

  constructor(
    private readonly certificates: PushCertificateService,
    private readonly control: PushControl,
    private readonly config: ApnsConfig,
  ) {
    this.ca = config.caFile ? readFileSync(config.caFile, 'utf8') : undefined;
  }

  /** The client for the current certificate, or undefined when none is installed. */
  async current(): Promise<ConnectedProvider | undefined> {
    const version = await this.control.certificateVersion();
    if (this.built && version === this.seenVersion) return this.built;
    this.loading ??= this.load(version).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(version: string | null): Promise<ConnectedProvider | undefined> {
    const certificate = await this.certificates.current();
    this.seenVersion = version;
    if (this.closed) return undefined;
    if (!certificate) {
      this.replace(undefined);
      return undefined;
    }
    if (this.built?.fingerprint === certificate.fingerprint) return this.built;
    this.replace(this.connect(certificate));
    return this.built;
  }

  private connect(certificate: ActivePushCertificate): ConnectedProvider {
    const client = new ApnsClient({
      endpoint: this.config.endpoint,
      certPem: certificate.certPem,
      keyPem: certificate.keyPem,
      ca: this.ca,
      poolSize: this.config.poolSize,
      maxStreamsPerSession: this.config.maxStreamsPerSession,
      requestTimeoutMs: this.config.requestTimeoutMs,
      defaultExpirationSeconds: this.config.expirationSeconds,
      pingIntervalMs: 60_000,
    });
    return { client, topic: certificate.topic, notAfter: certificate.notAfter, fingerprint: certificate.fingerprint };
  }

  private replace(next: ConnectedProvider | undefined): void {
    const old = this.built;
    this.built = next;
    // close() lets the old client's in-flight streams finish; their jobs still get outcomes.
    if (old && old !== next) void old.client.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    const old = this.built;
    this.built = undefined;
    await old?.client.close();
  }
}

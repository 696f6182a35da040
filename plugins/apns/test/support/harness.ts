/** Shared pieces of the apns plugin tests: the test PKI on disk, the stand-in, and admin calls. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApnsStandin, createTestPki, type PemPair, type TestPki } from '../../../../test/support/apns-standin.js';
import { adminHeaders } from '../../../../test/support/fixture-plugins.js';
import type { TestGateway } from '../../../../test/support/gateway.js';

export interface ApnsTestBed {
  pki: TestPki;
  /** The stand-in's CA as a file, for plugins.apns.caFile. */
  caFile: string;
  cleanup(): void;
}

export async function createApnsTestBed(): Promise<ApnsTestBed> {
  const pki = await createTestPki();
  const dir = mkdtempSync(path.join(tmpdir(), 'apns-test-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, pki.ca.certPem);
  return { pki, caFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function startStandin(bed: ApnsTestBed): Promise<ApnsStandin> {
  return ApnsStandin.start({ pki: bed.pki });
}

/** POST /api/apns/certificate with a PEM bundle (certificate and key). */
export function uploadPem(gw: TestGateway, pair: PemPair, extra: Record<string, unknown> = {}): Promise<Response> {
  return gw.fetch('/api/apns/certificate', {
    method: 'POST',
    headers: adminHeaders(),
    body: JSON.stringify({ pem: `${pair.certPem}\n${pair.keyPem}`, ...extra }),
  });
}

export async function installCertificate(gw: TestGateway, pair: PemPair): Promise<void> {
  const res = await uploadPem(gw, pair);
  if (res.status !== 201) throw new Error(`certificate upload failed: ${res.status} ${await res.text()}`);
}

export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A metric's value from /metrics (first series whose labels include `labels`). */
export async function metricValue(gw: TestGateway, name: string, labels = ''): Promise<number | undefined> {
  const text = await gw.metrics();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match && match[1] === name && (match[2] ?? '').includes(labels)) return Number(match[3]);
  }
  return undefined;
}

import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import mongoose from 'mongoose';
import { eventually } from '../../../test/support/eventually.js';
import { recordingPush, TEST_TOPIC } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { uniqueDatabaseUri } from '../../../test/support/services.js';

interface AuditRow {
  action: string;
  at: Date;
  target: { type: string; id: string };
  after?: Record<string, unknown>;
}

/**
 * A stranger guessing keys: per source and window one audit entry plus one summary with the count (fields
 * truncated), 429 once the client is over `rateLimits.apiKey`, and a retention that prunes refusals first.
 */
describe('admin-access: refused API keys are bounded in the audit log and rate limited', function () {
  this.timeout(120_000);
  const mongodbUri = uniqueDatabaseUri('refusedkeys');
  const WINDOW_SECONDS = 10;
  const GUESSES = 300;
  let gw: TestGateway;
  let db: mongoose.Connection;

  before(async () => {
    gw = await startTestGateway({
      label: 'refusedkeys',
      mongodbUri,
      enable: ['mdm', 'admin-access'],
      plugins: [recordingPush({ topic: TEST_TOPIC }).plugin],
      config: {
        rateLimits: {
          enabled: true,
          apiKey: { perClient: { points: 50, windowSeconds: 60 }, perKey: { points: 10, windowSeconds: 60 } },
        },
        plugins: { 'admin-access': { audit: { refusalWindowSeconds: WINDOW_SECONDS, refusalRetentionDays: 7 } } },
      },
    });
    db = await mongoose.createConnection(mongodbUri).asPromise();
  });
  after(async () => {
    await db?.close();
    await gw?.stop();
  });

  const refusals = async () =>
    (await db
      .collection('audit_log')
      .find({ action: { $regex: '^api-key\\.refused' } })
      .toArray()) as unknown as AuditRow[];

  it(`${GUESSES} guessed keys with 12 KB paths: two entries per window, truncated, and 429s after the limit`, async () => {
    const longPath = `/api/admin/api-keys/${'x'.repeat(12 * 1024)}`;
    const statuses = new Map<number, number>();
    let retryAfter: string | null = null;
    const started = Date.now();
    for (let i = 0; i < GUESSES; i += 1) {
      const guess = `gwk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
      const res = await gw.fetch(i % 2 ? longPath : '/api/admin/api-keys', { headers: { 'x-api-key': guess } });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    const windowsSpanned = Math.ceil((Date.now() - started) / (WINDOW_SECONDS * 1000)) + 1;
    // 50 refusals are allowed a minute; after them every guess is refused with 429 before any lookup.
    expect(statuses.get(401)).to.equal(50);
    expect(statuses.get(429)).to.equal(GUESSES - 50);
    expect(Number(retryAfter)).to.be.within(1, 60);

    const firsts = (await refusals()).filter((r) => r.action === 'api-key.refused');
    expect(firsts.length, 'one entry per source and window, not one per guess').to.be.within(1, windowsSpanned);
    for (const entry of firsts) {
      expect(JSON.stringify(entry).length, 'a bounded entry').to.be.below(1_200);
      expect(entry.after).to.include({ reason: 'unknown', count: 1, source: '127.0.0.1' });
    }
    // Each window's summary records the exact count once the window is over: firsts and summaries add up to
    // the 50 refusals, in at most two entries per window.
    await eventually(
      async () => {
        const rows = await refusals();
        const summaries = rows.filter((r) => r.action === 'api-key.refused.summary');
        const counted = firsts.reduce((sum, first) => {
          const summary = summaries.find((s) => String(s.after?.windowStart) === String(first.after?.windowStart));
          return sum + (summary ? Number(summary.after?.count) : 1);
        }, 0);
        expect(counted).to.equal(50);
        expect(rows.length).to.be.at.most(2 * firsts.length);
      },
      (WINDOW_SECONDS + 20) * 1000,
    );
  });

  it('keeps refusals for refusalRetentionDays and other entries for retentionDays', async () => {
    const old = (days: number) => new Date(Date.now() - days * 86_400_000);
    await db.collection('audit_log').insertMany([
      { at: old(8), action: 'api-key.refused', actor: { id: 'x', kind: 'api-key', displayName: 'x' } },
      { at: old(8), action: 'api-key.created', actor: { id: 'cli', kind: 'system', displayName: 'cli' } },
      { at: old(401), action: 'api-key.created', actor: { id: 'cli', kind: 'system', displayName: 'cli' } },
    ]);
    await gw.gateway.context('admin-access').queue('admin-access-audit').add('prune', { kind: 'prune' });
    await eventually(async () => {
      const left = await db
        .collection('audit_log')
        .find({ at: { $lt: old(1) } })
        .toArray();
      expect(left.map((e) => e.action)).to.deep.equal(['api-key.created']);
    }, 20_000);
  });
});

import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import mongoose from 'mongoose';
import { recordingPush, TEST_TOPIC } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { testMasterKey, testServices, uniqueDatabaseUri } from '../../../test/support/services.js';

interface AuditRow {
  actor: { id: string; kind: string; displayName: string };
  action: string;
  target: { type: string; id: string };
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
}

describe('admin-access: scoped API keys', function () {
  this.timeout(60_000);
  const mongodbUri = uniqueDatabaseUri('apikeys');
  let gw: TestGateway;
  let db: mongoose.Connection;

  const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
  const builtInPlugins = readdirSync(new URL('../../', import.meta.url), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);

  /** Runs the real `gateway` CLI in a child process, as an operator would, against the test gateway's database. */
  function cli(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    return cliWith({}, ...args);
  }

  function cliWith(
    extraEnv: Record<string, string>,
    ...args: string[]
  ): Promise<{ code: number; out: string[]; err: string[] }> {
    const env = {
      ...process.env,
      MONGODB_URI: mongodbUri,
      REDIS_URL: testServices().redisUrl,
      GATEWAY_SECURITY__MASTER_KEY: testMasterKey,
      GATEWAY_LOG__LEVEL: 'error',
      ...Object.fromEntries(
        builtInPlugins.map((name) => [
          `GATEWAY_PLUGINS__${name.toUpperCase().replace(/-/g, '_')}__ENABLED`,
          String(name === 'admin-access'),
        ]),
      ),
      ...extraEnv,
    };
    const lines = (text: string) => text.split('\n').filter(Boolean);
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', 'core/cli/main.ts', ...args],
        { cwd: repoRoot, env, timeout: 30_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, out: lines(stdout), err: lines(stderr) });
        },
      );
    });
  }

  async function createWithCli(name: string, scopes: string, ...extra: string[]): Promise<{ id: string; key: string }> {
    const result = await cli('admin', 'create-api-key', '--name', name, '--scopes', scopes, '--json', ...extra);
    expect(result.code, result.err.join('\n')).to.equal(0);
    expect(result.out, 'one JSON line on stdout').to.have.length(1);
    const { id, key } = JSON.parse(result.out[0]) as { id: string; key: string };
    expect(key).to.match(/^gwk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    return { id, key };
  }

  const withKey = (key: string, extra: Record<string, string> = {}) => ({
    headers: { authorization: `Bearer ${key}`, ...extra },
  });
  const audit = async (filter: Record<string, unknown>) =>
    (await db.collection('audit_log').find(filter).sort({ at: 1 }).toArray()) as unknown as AuditRow[];
  const keyDoc = (id: string) => db.collection('admin_api_keys').findOne({ _id: id as never });
  /** When the key was last used: its own record (admin_api_key_usage), written only by the requests using it. */
  const lastUsedAt = async (id: string) =>
    ((await db.collection('admin_api_key_usage').findOne({ _id: id as never }))?.at as Date | undefined) ?? undefined;

  before(async () => {
    gw = await startTestGateway({
      label: 'apikeys',
      mongodbUri,
      enable: ['mdm', 'admin-access'],
      plugins: [recordingPush({ topic: TEST_TOPIC }).plugin],
    });
    db = await mongoose.createConnection(mongodbUri).asPromise();
  });
  after(async () => {
    await db?.close();
    await gw?.stop();
  });

  it('denies by default: no credentials is 401, a non-gwk bearer is left to other authenticators', async () => {
    expect((await gw.fetch('/api/admin/api-keys')).status).to.equal(401);
    expect((await gw.fetch('/api/mdm/devices')).status).to.equal(401);
    const jwtLike = await gw.fetch('/api/admin/api-keys', withKey('eyJhbGciOiJSUzI1NiJ9.e30.c2ln'));
    expect(jwtLike.status).to.equal(401);
    expect(await audit({ action: 'api-key.refused' }), 'a JWT is not an API key refusal').to.have.length(0);
  });

  it('creates a key with the CLI that works on admin routes, stores only its hash, and records use', async () => {
    const { id, key } = await createWithCli('automation', 'api-keys:read,devices:read');
    const secret = key.split('_').slice(2).join('_');

    const list = await gw.fetch('/api/admin/api-keys', withKey(key));
    expect(list.status).to.equal(200);
    const { items } = (await list.json()) as { items: Record<string, unknown>[] };
    expect(items.map((k) => k.id)).to.include(id);
    const listed = items.find((k) => k.id === id)!;
    expect(listed).to.include({ name: 'automation', status: 'active', prefix: secret.slice(0, 8), createdBy: 'cli' });
    expect(listed).to.not.have.property('hash');
    expect(JSON.stringify(items)).to.not.include(secret);

    const viaHeader = await gw.fetch('/api/mdm/devices', { headers: { 'x-api-key': key } });
    expect(viaHeader.status, 'another plugin’s route accepts the key through X-API-Key').to.equal(200);

    const raw = await db.collection('admin_api_keys').find({}).toArray();
    expect(JSON.stringify(raw)).to.not.include(secret);
    const auditRows = await db.collection('audit_log').find({}).toArray();
    expect(JSON.stringify(auditRows), 'the audit log never holds the secret').to.not.include(secret);
    const used = await lastUsedAt(id);
    expect(used, 'lastUsedAt is written on use').to.be.instanceOf(Date);
    expect(Date.now() - (used as Date).getTime()).to.be.lessThan(30_000);
    const shown = (await (await gw.fetch(`/api/admin/api-keys/${id}`, withKey(key))).json()) as { lastUsedAt: string };
    expect(new Date(shown.lastUsedAt).getTime()).to.equal((used as Date).getTime());

    const created = await audit({ action: 'api-key.created', 'target.id': id });
    expect(created).to.have.length(1);
    expect(created[0].actor).to.deep.include({ id: 'cli', kind: 'system' });
    expect(created[0].after).to.include({ name: 'automation' });

    const listing = await cli('admin', 'list-api-keys');
    expect(listing.code).to.equal(0);
    const line = listing.out.find((l) => l.startsWith(id));
    expect(line).to.include('active').and.include('scopes=api-keys:read,devices:read');
    expect(listing.out.join('\n')).to.not.include(secret);
  });

  it('prints only the key on stdout (KEY=$(…) captures it), logs on stderr, and starts only its plugin', async () => {
    // Logs at info and mdm enabled: the command must still write nothing but the key to stdout, start no HTTP
    // server or workers, and leave mdm (which admin-access does not depend on) unstarted.
    const result = await cliWith(
      { GATEWAY_LOG__LEVEL: 'info', GATEWAY_PLUGINS__MDM__ENABLED: 'true' },
      'admin',
      'create-api-key',
      '--name',
      'script',
      '--scopes',
      'devices:read',
    );
    expect(result.code, result.err.join('\n')).to.equal(0);
    expect(result.out).to.have.length(1);
    expect(result.out[0]).to.match(/^gwk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const logs = result.err.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
    const startedLog = logs.find((log) => log.msg === 'gateway started');
    expect(startedLog, 'logs go to stderr').to.include({ role: 'cli' });
    expect(startedLog, 'no HTTP server listens').to.not.have.property('port');
    expect(startedLog.plugins).to.deep.equal(['admin-access']);
    expect(result.err.join('\n')).to.match(/store it now: it is not shown again/);

    const listed = await cli('admin', 'list-api-keys', '--json');
    expect(listed.code).to.equal(0);
    const items = JSON.parse(listed.out.join('\n')) as { name: string; hash?: string }[];
    expect(items.map((item) => item.name)).to.include('script');
    expect(items.every((item) => item.hash === undefined)).to.equal(true);
    // The secret is everything after the id; it is base64url, so it may itself contain '_'.
    expect(listed.out.join('\n')).to.not.include(result.out[0].split('_').slice(2).join('_'));
  });

  it('writes lastUsedAt at most once a minute', async () => {
    const { id, key } = await createWithCli('busy', 'api-keys:read');
    expect((await gw.fetch('/api/admin/api-keys', withKey(key))).status).to.equal(200);
    const first = (await lastUsedAt(id)) as Date;
    await new Promise((r) => setTimeout(r, 20));
    expect((await gw.fetch('/api/admin/api-keys', withKey(key))).status).to.equal(200);
    expect(((await lastUsedAt(id)) as Date).getTime()).to.equal(first.getTime());
    // Two minutes later, the next use is recorded again.
    await db
      .collection('admin_api_key_usage')
      .updateOne({ _id: id as never }, { $set: { at: new Date(Date.now() - 120_000) } });
    expect((await gw.fetch('/api/admin/api-keys', withKey(key))).status).to.equal(200);
    expect(Date.now() - ((await lastUsedAt(id)) as Date).getTime()).to.be.lessThan(30_000);
  });

  it('refuses a key without the scope with 403', async () => {
    const { key } = await createWithCli('reader', 'devices:read');
    const res = await gw.fetch('/api/admin/api-keys', withKey(key));
    expect(res.status).to.equal(403);
    expect(res.headers.get('content-type')).to.match(/problem\+json/);
  });

  it('refuses tampered, malformed and unknown keys with 401 and audit-logs the first refusal of each kind', async () => {
    const { id, key } = await createWithCli('target', 'api-keys:read');
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    const tampered = key.slice(0, -1) + last;
    const unknown = `gwk_${'0'.repeat(16)}_${key.slice(-43)}`;
    for (const [label, presented] of [
      ['tampered', tampered],
      ['malformed', 'gwk_not-a-key'],
      ['unknown', unknown],
    ]) {
      const res = await gw.fetch('/api/admin/api-keys', withKey(presented));
      expect(res.status, label).to.equal(401);
      expect(((await res.json()) as { detail: string }).detail, label).to.equal('invalid API key');
    }
    const malformedHeader = await gw.fetch('/api/admin/api-keys', { headers: { 'x-api-key': 'hunter2' } });
    expect(malformedHeader.status).to.equal(401);

    const refused = await audit({ action: 'api-key.refused' });
    const reasons = refused.map((r) => r.after?.reason);
    expect(reasons).to.include.members(['wrong-secret', 'malformed', 'unknown']);
    // Bounded: the second malformed key from this source only counts (refused-keys.test.ts has the summary).
    expect(reasons.filter((r) => r === 'malformed')).to.have.length(1);
    const wrong = refused.find((r) => r.after?.reason === 'wrong-secret')!;
    expect(wrong.actor).to.deep.equal({ id: `api-key:${id}`, kind: 'api-key', displayName: 'target' });
    expect(wrong.after).to.include({ method: 'GET', path: '/api/admin/api-keys' });
    expect(await lastUsedAt(id), 'a refused key is not marked used').to.equal(undefined);
  });

  it('refuses a key revoked with the CLI, and audit-logs the revocation', async () => {
    const { id, key } = await createWithCli('to-revoke', 'api-keys:read');
    expect((await gw.fetch('/api/admin/api-keys', withKey(key))).status).to.equal(200);
    const revoked = await cli('admin', 'revoke-api-key', id);
    expect(revoked.code).to.equal(0);
    const res = await gw.fetch('/api/admin/api-keys', withKey(key));
    expect(res.status).to.equal(401);
    expect(((await res.json()) as { detail: string }).detail).to.equal('this API key was revoked');
    const rows = await audit({ 'target.id': id });
    expect(rows.map((r) => r.action)).to.deep.equal(['api-key.created', 'api-key.revoked', 'api-key.refused']);
    expect(rows[1].actor).to.deep.include({ id: 'cli', kind: 'system' });
    expect(rows[1].before).to.include({ status: 'active' });
    expect(rows[1].after).to.include({ status: 'revoked' });
    expect(rows[2].after).to.include({ reason: 'revoked' });
    expect((await cli('admin', 'revoke-api-key', 'ffffffffffffffff')).code).to.equal(1);
  });

  it('refuses an expired key with 401', async () => {
    const { id, key } = await createWithCli('short-lived', 'api-keys:read', '--expires-days', '1');
    const stored = await keyDoc(id);
    expect((stored!.expiresAt as Date).getTime() - Date.now()).to.be.closeTo(86_400_000, 60_000);
    expect((await gw.fetch('/api/admin/api-keys', withKey(key))).status).to.equal(200);
    // A day passes.
    await db
      .collection('admin_api_keys')
      .updateOne({ _id: id as never }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    const res = await gw.fetch('/api/admin/api-keys', withKey(key));
    expect(res.status).to.equal(401);
    expect(((await res.json()) as { detail: string }).detail).to.equal('this API key expired');
    expect((await audit({ 'target.id': id, action: 'api-key.refused' }))[0].after).to.include({ reason: 'expired' });
  });

  it('rejects invalid scopes from the CLI', async () => {
    const result = await cli('admin', 'create-api-key', '--name', 'bad', '--scopes', 'devices:delete');
    expect(result.code).to.equal(1);
    expect(result.err.join('\n')).to.match(/scope/);
  });

  it('manages keys over the admin API without escalation', async () => {
    const { key: manager } = await createWithCli('manager', 'api-keys:*,devices:read');
    const post = (body: unknown, key = manager) =>
      gw.fetch('/api/admin/api-keys', {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const escalation = await post({ name: 'sneaky', scopes: ['devices:read', 'devices:write'] });
    expect(escalation.status).to.equal(403);
    expect(((await escalation.json()) as { detail: string }).detail).to.include('devices:write');
    expect((await post({ name: 'root', scopes: ['*'] })).status).to.equal(403);
    expect((await post({ name: 'bad', scopes: ['nope'] })).status).to.equal(400);

    const created = await post({ name: 'child', scopes: ['devices:read'], expiresInDays: 7 });
    expect(created.status).to.equal(201);
    expect(created.headers.get('cache-control')).to.equal('no-store');
    const child = (await created.json()) as { id: string; key: string; createdBy: string; expiresAt: string };
    expect(child.createdBy).to.match(/^api-key:[0-9a-f]{16}$/);
    expect(new Date(child.expiresAt).getTime() - Date.now()).to.be.closeTo(7 * 86_400_000, 60_000);
    expect((await gw.fetch('/api/mdm/devices', withKey(child.key))).status).to.equal(200);

    const shown = await gw.fetch(`/api/admin/api-keys/${child.id}`, withKey(manager));
    expect(JSON.stringify(await shown.json())).to.not.include(child.key.slice(-43));

    const removed = await gw.fetch(`/api/admin/api-keys/${child.id}`, { method: 'DELETE', ...withKey(manager) });
    expect(removed.status).to.equal(200);
    expect(((await removed.json()) as { status: string }).status).to.equal('revoked');
    expect((await gw.fetch('/api/mdm/devices', withKey(child.key))).status).to.equal(401);
    expect(
      (await gw.fetch('/api/admin/api-keys/ffffffffffffffff', { method: 'DELETE', ...withKey(manager) })).status,
    ).to.equal(404);

    const rows = await audit({ 'target.id': child.id });
    expect(rows.map((r) => r.action)).to.deep.equal(['api-key.created', 'api-key.revoked', 'api-key.refused']);
    expect(rows[0].actor.kind).to.equal('api-key');
    expect(rows[0].actor.displayName).to.equal('manager');
  });

  it('keeps every revocation that races a use of the same key (200 pairs at once)', async function () {
    this.timeout(180_000);
    const { key: manager } = await createWithCli('race-manager', 'api-keys:*');
    const PAIRS = 200;
    const keys: { id: string; key: string }[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const res = await gw.fetch('/api/admin/api-keys', {
        method: 'POST',
        headers: { authorization: `Bearer ${manager}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `race-${i}`, scopes: ['api-keys:read'] }),
      });
      expect(res.status).to.equal(201);
      keys.push((await res.json()) as { id: string; key: string });
    }
    // Each key's first use (which records lastUsedAt) and its revocation start together.
    const outcomes = await Promise.all(
      keys.map(async ({ id, key }) => {
        const [use, revoke] = await Promise.all([
          gw.fetch('/api/admin/api-keys/ffffffffffffffff', withKey(key)),
          gw.fetch(`/api/admin/api-keys/${id}`, { method: 'DELETE', ...withKey(manager) }),
        ]);
        return { use: use.status, revoke: revoke.status };
      }),
    );
    expect(outcomes.every((o) => o.revoke === 200)).to.equal(true);
    expect(outcomes.every((o) => o.use === 404 || o.use === 401)).to.equal(true);
    const listed = (await (await gw.fetch('/api/admin/api-keys', withKey(manager))).json()) as {
      items: { id: string; status: string }[];
    };
    const status = new Map(listed.items.map((k) => [k.id, k.status]));
    const lost = keys.filter(({ id }) => status.get(id) !== 'revoked');
    expect(lost.length, `${lost.length} of ${PAIRS} revocations lost`).to.equal(0);
    const stillAccepted = await Promise.all(
      keys.map(async ({ key }) => (await gw.fetch('/api/admin/api-keys/ffffffffffffffff', withKey(key))).status),
    );
    expect(stillAccepted.filter((s) => s !== 401)).to.have.length(0);
  });
});

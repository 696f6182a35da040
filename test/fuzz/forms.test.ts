import { expect } from 'chai';
import fc from 'fast-check';
import { adminHeaders } from '../support/fixture-plugins.js';
import { formFields, fuzzParameters, fuzzRuns, jsonBody, jsonValue } from '../support/fuzz.js';
import { type PortalClient, type PortalHarness, startPortalHarness } from '../support/portal-harness.js';

/**
 * What browsers send, fuzzed through the real gateway: the portal's CSRF-protected forms (signed in, with and
 * without the session's CSRF token) and every JSON admin API operation the OpenAPI document lists. Answers are
 * below 500, and a refused request leaves every collection as it was.
 */
/** The security audit: the one collection a refusal may add to (identity-entra audits refused CSRF tokens). */
const AUDIT = 'audit_log';

interface Operation {
  method: string;
  path: string;
  fields: string[];
}

describe('fuzz: portal forms and admin API bodies get a 4xx, never a 5xx, and store nothing they refuse but an audit entry', () => {
  let portal: PortalHarness;
  let bob: PortalClient;
  let csrf: string;
  const statuses = new Map<number, number>();

  const counts = async (): Promise<Record<string, number>> => {
    const db = portal.gw.gateway.context('mdm').mongo.db;
    if (!db) throw new Error('no database');
    const out: Record<string, number> = {};
    for (const { name } of await db.listCollections().toArray()) out[name] = await db.collection(name).countDocuments();
    return out;
  };

  /** Sends one request; below 500 always, and when refused (4xx) nothing was written. */
  const refusedChangesNothing = async (label: string, request: () => Promise<Response>) => {
    const before = await counts();
    const res = await request();
    await res.arrayBuffer();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    expect(res.status, `${label} answered ${res.status}`).to.be.below(500);
    if (res.status >= 400) {
      const after = await counts();
      const changed = Object.keys(after).filter((name) => after[name] !== before[name] && name !== AUDIT);
      expect(changed, `${label} refused with ${res.status} but wrote to`).to.deep.equal([]);
      // A refused credential (a CSRF token that is not the session's) is audited: one entry, never more.
      expect((after[AUDIT] ?? 0) - (before[AUDIT] ?? 0), `${label}: audit entries`).to.be.at.most(1);
    }
    return res.status;
  };

  before(async function () {
    this.timeout(120_000);
    portal = await startPortalHarness('fuzzforms', {
      enable: [
        'admin-access',
        'identity-entra',
        'mdm',
        'enrollment-profiles',
        'jit-registration',
        'unenrollment',
        'company-portal',
        'web-clip',
        'webhooks',
        'compliance',
        'admin-center',
      ],
    });
    bob = await portal.signIn(portal.accounts.staff);
    csrf = await bob.csrf();
  });
  after(async () => {
    await portal?.stop();
    console.log(`      statuses seen: ${JSON.stringify(Object.fromEntries(statuses))}`);
  });

  it('portal form posts with random fields, with and without the CSRF token', async function () {
    this.timeout(60_000 + fuzzRuns(100) * 1000);
    const id = fc.oneof(fc.string({ maxLength: 30 }), fc.uuid(), fc.constant('0'.repeat(24)));
    const path = fc.oneof(
      fc.constant('/enroll/download'),
      fc
        .tuple(id, fc.constantFrom('rename', 'check', 'remove'))
        .map(([d, a]) => `/devices/${encodeURIComponent(d)}/${a}`),
    );
    const csrfField = fc.oneof(fc.constant(undefined), fc.constant('session'), fc.string({ maxLength: 40 }));
    await fc.assert(
      fc.asyncProperty(
        path,
        formFields(['name', 'csrf', 'returnTo', 'profile']),
        csrfField,
        async (p, fields, token) => {
          const form = { ...fields };
          if (token === 'session') form.csrf = csrf;
          else if (token !== undefined) form.csrf = token;
          const status = await refusedChangesNothing(`POST ${p}`, () => bob.post(p, form));
          // Without the session's token nothing gets past the CSRF check.
          if (form.csrf !== csrf) expect(status, `POST ${p} without the CSRF token`).to.be.within(300, 499);
        },
      ),
      fuzzParameters(100),
    );
  });

  it('every JSON admin API operation with random bodies', async function () {
    this.timeout(120_000 + fuzzRuns(200) * 1000);
    const document = (await (await portal.gw.fetch('/api/openapi.json')).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>>;
    };
    const operations: Operation[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (!['post', 'put', 'patch'].includes(method) || !path.startsWith('/api/')) continue;
        const schema = operation.requestBody?.content?.['application/json']?.schema as
          | { properties?: Record<string, unknown> }
          | undefined;
        operations.push({ method: method.toUpperCase(), path, fields: Object.keys(schema?.properties ?? {}) });
      }
    }
    expect(operations.length, 'JSON admin operations found in the OpenAPI document').to.be.greaterThan(5);
    const request = fc.constantFrom(...operations).chain((operation) =>
      fc.record({
        operation: fc.constant(operation),
        id: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 24 })),
        body: fc.oneof(
          jsonBody(operation.fields.length > 0 ? operation.fields : ['x']).map((b) => JSON.stringify(b)),
          jsonValue.map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 60 }),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ operation, id, body }) => {
        const path = operation.path.replace(/\{[^}]+\}/g, encodeURIComponent(id));
        await refusedChangesNothing(`${operation.method} ${operation.path}`, () =>
          portal.gw.fetch(path, { method: operation.method, headers: adminHeaders(), body }),
        );
      }),
      fuzzParameters(200),
    );
  });
});

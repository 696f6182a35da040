/**
 * The OpenAPI document against the routes really mounted: every /api route of every built-in plugin
 * (found by walking the routers' layers) must be described, the document must be internally consistent,
 * and the schemas it shows must be the ones that validate requests.
 */
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import { expect } from 'chai';
import { testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { OidcStandin } from '../../../test/support/oidc-standin.js';
import { listBuiltInPlugins } from '../../plugins/discover.js';
import { mountedOperations, openApiPath, type PluginRouter } from '../openapi.js';

/**
 * Routes of plugins owned elsewhere that do not describe themselves yet ("METHOD /path"). Each must still
 * be a gap (the list cannot go stale); describe the route with adminApi/describeRoute and delete its line.
 */
const KNOWN_GAPS = new Set<string>([]);

/** Plugins whose admin routes validate through adminRoute, so an empty body must be a 400 naming the fields. */
const VALIDATED_BY_ADMIN_ROUTE = new Set([
  'mdm',
  'enrollment-profiles',
  'admin-access',
  'apns',
  'jit-registration',
  'unenrollment',
  'identity-entra',
  'web-clip',
]);

type Json = Record<string, unknown>;

describe('OpenAPI: /api/openapi.json describes every mounted admin route', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  let standin: OidcStandin;
  let doc: Json;
  let routers: PluginRouter[];

  before(async () => {
    standin = await OidcStandin.start({ redirectUris: ['https://gateway.test/auth/callback'] });
    gw = await startTestGateway({
      label: 'openapi',
      enable: listBuiltInPlugins(),
      plugins: [testAdminTokens],
      config: {
        plugins: {
          'identity-entra': {
            tenantId: standin.tenantId,
            clientId: standin.clientId,
            clientSecret: standin.clientSecret,
            authority: standin.authority,
            graphUrl: standin.graphUrl,
            sessionSecrets: [randomUUID() + randomUUID()],
          },
          'identity-oidc': { issuer: standin.issuer, clientId: standin.clientId, clientSecret: standin.clientSecret },
        },
      },
    });
    const res = await gw.fetch('/api/openapi.json');
    expect(res.status).to.equal(200);
    doc = (await res.json()) as Json;
    // The same walk the kernel does, on fresh routers mounted with each plugin's real context.
    routers = gw.gateway.plugins.flatMap((plugin) =>
      plugin.routes.map((route) => {
        const router = new Router(route.prefix ? { prefix: route.prefix } : {});
        route.mount(router, gw.gateway.context(plugin.definition.name));
        return { plugin: plugin.definition.name, router };
      }),
    );
  });
  after(async () => {
    await gw?.stop();
    await standin?.stop();
  });

  const apiOperations = () => mountedOperations(routers).filter((op) => op.path.startsWith('/api/'));
  const operation = (method: string, path: string) =>
    ((doc.paths as Record<string, Json>)[openApiPath(path)]?.[method] as Json | undefined) ?? undefined;

  it('is OpenAPI 3.1 with every mounted /api operation in it', () => {
    expect(doc.openapi).to.equal('3.1.0');
    const operations = apiOperations();
    expect(operations.length).to.be.greaterThan(30);
    const missing = operations.filter((op) => !operation(op.method, op.path)).map((op) => `${op.method} ${op.path}`);
    expect(missing, 'mounted but not in the document').to.deep.equal([]);
  });

  it('has a description for every route, except the listed gaps of other plugins', () => {
    const undescribed = apiOperations()
      .filter((op) => !op.description)
      .map((op) => `${op.method} ${op.path}`);
    const unexpected = undescribed.filter((key) => !KNOWN_GAPS.has(key));
    expect(unexpected, 'routes without a description (use adminApi or describeRoute)').to.deep.equal([]);
    const closed = [...KNOWN_GAPS].filter((key) => !undescribed.includes(key));
    expect(closed, 'known gaps that are described now: remove them from KNOWN_GAPS').to.deep.equal([]);
    for (const op of apiOperations()) {
      const described = operation(op.method, op.path) as Json;
      if (op.description) {
        expect(described.summary, `${op.method} ${op.path}`).to.equal(op.description.summary);
        expect(op.description.method, `${op.path} is described as another method`).to.equal(op.method);
      } else expect(described['x-undescribed']).to.equal(true);
    }
  });

  it('is consistent: unique operation ids, declared path parameters, resolvable $refs, problem+json errors', () => {
    const ids = new Set<string>();
    const refs: string[] = [];
    const collect = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(collect);
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          if (key === '$ref' && typeof inner === 'string') refs.push(inner);
          else collect(inner);
        }
      }
    };
    collect(doc);
    const schemas = (doc.components as Json).schemas as Json;
    for (const ref of refs) {
      expect(ref.startsWith('#/components/schemas/'), ref).to.equal(true);
      expect(schemas[ref.slice('#/components/schemas/'.length)], ref).to.not.equal(undefined);
    }
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(item) as Json[]) {
        expect(ids.has(op.operationId as string), `duplicate ${op.operationId}`).to.equal(false);
        ids.add(op.operationId as string);
        const declared = ((op.parameters as Json[]) ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared, path).to.have.members(templated);
        if (op['x-scope']) {
          const unauthorized = (op.responses as Record<string, Json>)['401'];
          expect(Object.keys(unauthorized.content as Json), `${path} 401`).to.deep.equal(['application/problem+json']);
        }
      }
    }
  });

  it('documents the schemas that validate: an empty body is refused naming each required field', async () => {
    let checked = 0;
    for (const op of apiOperations()) {
      if (!VALIDATED_BY_ADMIN_ROUTE.has(op.plugin) || !op.description?.body) continue;
      const described = operation(op.method, op.path) as Json;
      const content = (described.requestBody as Json).content as Record<string, Json>;
      const required = ((content['application/json'].schema as Json).required as string[] | undefined) ?? [];
      if (required.length === 0) continue;
      const path = op.path.replace(/:([A-Za-z0-9_]+)/g, '0123456789abcdef01234567');
      const res = await gw.fetch(path, {
        method: op.method.toUpperCase(),
        headers: { authorization: 'Bearer admin-all', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status, `${op.method} ${op.path}`).to.equal(400);
      expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
      const problem = (await res.json()) as { issues: { path: string }[] };
      const reported = problem.issues.map((issue) => issue.path.split('.')[0]);
      expect(reported, `${op.method} ${op.path}`).to.include.members(required);
      checked++;
    }
    expect(checked).to.be.greaterThan(5);
  });

  it('answers cursor-paginated device lists with the documented query parameters', () => {
    const list = operation('get', '/api/mdm/devices') as Json;
    const names = (list.parameters as Json[]).map((p) => p.name);
    expect(names).to.include.members(['q', 'userId', 'state', 'osVersion', 'lastCheckInBefore', 'sort', 'cursor']);
    const ok = (list.responses as Record<string, Json>)['200'].content as Record<string, Json>;
    expect(((ok['application/json'].schema as Json).properties as Json).nextCursor).to.be.an('object');
  });

  it('renders the reference page offline, under a strict CSP, with every operation', async () => {
    const res = await gw.fetch('/api/docs');
    expect(res.status).to.equal(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("default-src 'none'").and.not.include('unsafe-inline');
    const page = await res.text();
    expect(page).to.not.match(/<script|https?:\/\/(?!gateway\.test)[a-z]/i);
    for (const item of Object.values(doc.paths as Record<string, Json>)) {
      for (const op of Object.values(item) as Json[]) expect(page).to.include(`id="${op.operationId}"`);
    }
  });
});

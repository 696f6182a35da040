import { expect } from 'chai';
import { definePlugin } from 'enrollment-gateway/sdk';
import mongoose from 'mongoose';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

// The driver's own error classes, as mongoose exposes them (the gateway depends on mongoose, not on mongodb).
const { MongoNetworkError, MongoNetworkTimeoutError } = mongoose.mongo;

/**
 * While the database is down (the soak's `db` fault), requests in flight fail with the driver's network errors.
 * They must leave as 503 with Retry-After — a device should retry, not see a 500 — and other errors stay 500.
 */
describe('kernel: a request that fails because a backing service is unreachable answers 503', () => {
  let gw: TestGateway;
  const failing = definePlugin({
    name: 'flaky-store',
    version: '1.0.0',
    coreApi: '^2.0.0',
    register(api) {
      api.routes({
        prefix: '/flaky',
        mount(router) {
          router.get('/network', () => {
            throw new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed');
          });
          router.get('/timeout', () => {
            throw new Error('query failed', {
              cause: new MongoNetworkTimeoutError('connection timed out: 127.0.0.1:27017'),
            });
          });
          router.get('/bug', () => {
            throw new TypeError('cannot read properties of undefined');
          });
        },
      });
    },
  });

  before(async () => {
    gw = await startTestGateway({ label: 'unavailable', plugins: [failing] });
  });
  after(() => gw?.stop());

  for (const path of ['/flaky/network', '/flaky/timeout']) {
    it(`${path}: 503 problem with Retry-After, no details`, async () => {
      const res = await gw.fetch(path);
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.equal('5');
      expect(res.headers.get('content-type')).to.match(/application\/problem\+json/);
      const body = (await res.json()) as { title: string; detail: string };
      expect(body.title).to.equal('Service unavailable');
      expect(JSON.stringify(body)).not.to.contain('27017');
    });
  }

  it('any other failure stays a 500 without details', async () => {
    const res = await gw.fetch('/flaky/bug');
    expect(res.status).to.equal(500);
    expect(res.headers.get('retry-after')).to.equal(null);
    expect(JSON.stringify(await res.json())).not.to.contain('undefined');
  });
});

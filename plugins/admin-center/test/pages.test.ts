import { expect } from 'chai';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { enrollDevice } from './support.js';

describe('admin center pages over HTTP, without an identity provider', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({
      label: 'usersnoidp',
      enable: ['admin-access', 'mdm', 'admin-center'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
  });
  after(() => gw?.stop());

  it('says which plugin gives it users instead of showing a raw "no route" error', async () => {
    const res = await gw.fetch('/admin/users', { headers: { ...adminHeaders(), accept: 'text/html' } });
    expect(res.status).to.equal(200);
    const page = await res.text();
    expect(page).to.include('data-empty="no-identity-provider"');
    expect(page).to.include('identity-entra').and.include('identity-oidc').and.include('href="/admin/devices"');
    expect(page).not.to.match(/no route for/i);
  });

  it('lists devices by the name their user gave them, with the model beside it', async () => {
    const named = { deviceName: 'Bob’s iPhone', productName: 'iPhone15,4', serialNumber: 'F2LXK0001' };
    await enrollDevice(gw, { userId: 'bob', ...named, report: true });
    // It never answered DeviceInformation, so it has no name on record (an iPhone's Authenticate carries none).
    await enrollDevice(gw, { userId: 'bob', productName: 'iPad13,1', serialNumber: 'DMPXK0002' });
    const res = await gw.fetch('/admin/devices', { headers: { ...adminHeaders(), accept: 'text/html' } });
    expect(res.status).to.equal(200);
    const page = await res.text();
    expect(page).to.match(/>Bob’s iPhone<\/a> <span class="muted" data-model>iPhone15,4<\/span>/);
    expect(page).to.match(/>Unnamed device<\/a> <span class="muted" data-model>iPad13,1<\/span>/);
    expect(page).not.to.match(/>iPad13,1<\/a>/);
  });
});

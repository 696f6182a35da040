import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import {
  PORTAL_URL,
  type PortalClient,
  type PortalHarness,
  startPortalHarness,
} from '../../../test/support/portal-harness.js';
import compliance from '../index.js';

const IOS_16 =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1';
const pageId = (html: string) => /<body data-page="([^"]+)"/.exec(html)?.[1];

interface AdminDevice {
  id: string;
  udid: string;
  statusItems?: { label: string; value: string; tone: string; action?: string; source: string }[];
}

/**
 * The pages other plugins render from the contribution: the portal's device page, the admin devices list,
 * and the portal's Enroll page showing the veto message.
 */
describe('compliance: what the portal and the admin devices list show', function () {
  this.timeout(120_000);
  let portal: PortalHarness;
  let bob: PortalClient;
  let phone: SimulatedDevice;
  let deviceId: string;

  /** Enrolls through the portal as a user does: Download, then the profile installed on the phone. */
  const enrollThroughPortal = async (client: PortalClient) => {
    const start = await client.post('/enroll/download', { csrf: await client.csrf() });
    expect(start.status).to.equal(303);
    const status = start.headers.get('location') ?? '';
    const hop = await client.browser.request(`${PORTAL_URL}${status}/profile`);
    return client.browser.request(hop.headers.get('location') ?? '');
  };

  before(async () => {
    portal = await startPortalHarness('compliancesurf', {
      extraPlugins: [compliance],
      plugins: { compliance: { minimumIosVersion: '17.5', blockEnrollmentWhenNonCompliant: true } },
    });
    bob = await portal.signIn(portal.accounts.staff, IOS_16);
    const profile = await enrollThroughPortal(bob);
    phone = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL, osVersion: '16.7.8' });
    phone.installProfileFile(Buffer.from(await profile.arrayBuffer()));
    await phone.enroll();
    await eventsDelivered(portal.gw.gateway);
    const record = await portal.gw.gateway.context('compliance').resolve(deviceDirectoryRef).getByUdid(phone.udid);
    deviceId = String(record?.id);
    // Answers DeviceInformation (and whatever else was queued on enrollment).
    await phone.poll();
  });
  after(() => portal?.stop());

  it('the portal device page says "Not compliant" and what to do', async () => {
    const page = await eventually(async () => {
      const found = await bob.page(`/devices/${deviceId}`);
      expect(found.html).to.include('Not compliant');
      return found;
    });
    expect(page.status).to.equal(200);
    expect(page.html).to.include('Update iOS to 17.5 or later').and.include('tone-critical');
  });

  it('the admin devices list carries the same item, attributed to the compliance plugin', async () => {
    const res = await portal.gw.fetch('/api/mdm/devices?limit=200', {
      headers: { authorization: 'Bearer admin-all' },
    });
    expect(res.status).to.equal(200);
    const { items } = (await res.json()) as { items: AdminDevice[] };
    const device = items.find((d) => d.udid === phone.udid);
    expect(device?.statusItems).to.deep.include({
      label: 'Compliance',
      value: 'Not compliant',
      tone: 'critical',
      action: 'Update iOS to 17.5 or later',
      source: 'compliance',
    });
  });

  it('the portal shows the veto message when the user tries to enroll another device', async () => {
    const res = await bob.post('/enroll/download', { csrf: await bob.csrf() });
    expect(res.status).to.equal(403);
    const html = await res.text();
    expect(pageId(html)).to.equal('enroll');
    expect(html).to.include('runs iOS 16.7.8. Update iOS to 17.5 or later on it before you enroll another device.');
  });
});

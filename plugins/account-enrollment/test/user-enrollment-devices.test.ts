import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import type { AccountDrivenDevice } from '../../../test/support/device-simulator-adde.js';
import { eventsDelivered } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import { csrfOf, type PortalClient, type PortalHarness } from '../../../test/support/portal-harness.js';
import { accountDevice, startAccountHarness } from './support.js';

const pageId = (html: string) => /<body data-page="([^"]+)"/.exec(html)?.[1];

/**
 * A device enrolled by account-driven User Enrollment has no UDID: it is stored, commanded, pushed, listed in My
 * devices and the admin API, and removed, by its EnrollmentID. It is never told 401 outside the enrollment challenge.
 */
describe('account-enrollment: User Enrollment devices (no UDID) in mdm, My devices and removal', function () {
  this.timeout(120_000);
  let portal: PortalHarness;
  let client: PortalClient;
  let adde: AccountDrivenDevice;
  let enrollmentId: string;
  let deviceId: string;
  let polling = true;
  let poller: Promise<void>;

  before(async () => {
    const started = await startAccountHarness('addedev');
    portal = started.portal;
    client = await portal.signIn(started.ada);
    adde = await accountDevice(portal, client, { userIdentifier: started.ada.upn });
    await adde.enroll();
    await eventsDelivered(portal.gw.gateway);
    enrollmentId = (adde.device.deviceKeys as { EnrollmentID: string }).EnrollmentID;
    const record = await portal.gw.gateway
      .context('company-portal')
      .resolve(deviceDirectoryRef)
      .getByUdid(enrollmentId);
    if (!record) throw new Error('the User Enrollment device is not recorded');
    deviceId = record.id;
    // The phone answers whenever it is reachable, as after each push, until its management profile is gone.
    poller = (async () => {
      while (polling && adde.device.enrolled) {
        await adde.device.poll().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
  });
  after(async () => {
    polling = false;
    await poller;
    await portal?.stop();
  });

  it('records the device by its EnrollmentID, marked as a User Enrollment, and pushes to it', async () => {
    const record = await portal.gw.gateway.context('company-portal').resolve(deviceDirectoryRef).get(deviceId);
    expect(record).to.deep.include({ udid: enrollmentId, userEnrollment: true, state: 'enrolled', pushable: true });
    expect(record?.serialNumber).to.equal(undefined);
    // Commands queued after enrollment (web clip, JIT registration) woke the device by push.
    expect(portal.woken.flat()).to.include(deviceId);
  });

  it('lists it in My devices, ready for work', async () => {
    await eventually(async () => {
      const list = await client.page('/devices');
      expect(list.html).to.include(`href="/devices/${deviceId}"`);
      expect(list.html).to.include('Managed · Ready for work');
    }, 30_000);
  });

  it('shows it in the admin API device list', async () => {
    const res = await portal.gw.fetch(`/api/mdm/devices/${deviceId}`, {
      headers: { authorization: 'Bearer admin-all' },
    });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.include({ udid: enrollmentId });
  });

  it('never answers 401 to its MDM requests: a bad signature is 400/403, the Bearer token is accepted', async () => {
    const report = { EnrollmentID: enrollmentId, Status: 'Idle' };
    for (const signature of [undefined, 'bm90IGEgc2lnbmF0dXJl']) {
      adde.device.signatureOverride = () => signature;
      try {
        const checkin = await adde.device.sendCheckin({ MessageType: 'TokenUpdate', ...report });
        const command = await adde.device.sendReport(report);
        for (const res of [checkin, command]) {
          expect(res.status).to.be.oneOf([400, 403]);
          expect(res.headers['www-authenticate']).to.equal(undefined);
        }
      } finally {
        adde.device.signatureOverride = undefined;
      }
    }
    // Signed correctly, with the account-driven Bearer token as Settings sends it: accepted.
    expect(adde.device.bearerToken).to.be.a('string');
    expect((await adde.device.sendReport(report)).status).to.equal(200);
  });

  it('removes it from My devices: the profiles go, the device checks out, the record is retired', async () => {
    const confirm = await client.page(`/devices/${deviceId}/remove`);
    expect(pageId(confirm.html)).to.equal('remove');
    const res = await client.post(`/devices/${deviceId}/remove`, { csrf: csrfOf(confirm.html) });
    expect(res.status).to.equal(303);
    await eventually(
      async () => expect((await client.page(`/devices/${deviceId}`)).html).to.include('data-removal="completed"'),
      30_000,
      200,
    );
    expect(adde.device.enrolled).to.equal(false);
    expect((await client.page('/devices')).html).not.to.include(`href="/devices/${deviceId}"`);
  });
});

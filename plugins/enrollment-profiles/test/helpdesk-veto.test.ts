import { expect } from 'chai';
import { DEVICE_LIMIT_MESSAGE, enrollmentSessionsRef } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
import {
  fixtureUserDirectory,
  recordingPush,
  TEST_TOPIC,
  testAdminTokens,
} from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { NO_PROFILE_MESSAGE } from '../src/matching.js';
import { DISABLED_MESSAGE, UNKNOWN_USER_MESSAGE } from '../src/veto.js';
import { call, createProfile, user } from './helpers.js';

describe('enrollment-profiles: the same checks on helpdesk enrollment links (POST /api/mdm/enrollments)', () => {
  let gw: TestGateway;
  const directory = fixtureUserDirectory({
    groups: ['g-staff', 'g-interns'],
    users: [
      user('staff', ['g-staff']),
      user('intern', ['g-interns']),
      user('gone', ['g-staff'], false),
      user('busy', ['g-staff']),
    ],
  });

  before(async () => {
    gw = await startTestGateway({
      label: 'epveto',
      enable: ['admin-access', 'mdm', 'enrollment-profiles'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin, directory.plugin],
      config: {
        plugins: { 'identity-entra': { enabled: true }, 'enrollment-profiles': { defaultDeviceLimit: 1 } },
      },
    });
    await createProfile(gw, { name: 'Staff', include: ['g-staff'] });
  });
  after(() => gw?.stop());

  const mint = (userId: string) =>
    call<{ detail?: string; vetoedBy?: string; profileUrl?: string }>(gw, 'POST', '/api/mdm/enrollments', { userId });
  /** Sessions stored for the user and not yet installed, through the SDK (cancelling them counts them). */
  const storedSessions = (userId: string) =>
    gw.gateway.context('mdm').resolve(enrollmentSessionsRef).cancelPending(userId, 'test: count stored sessions');

  it('issues a link to a user with a profile and room for a device', async () => {
    expect((await mint('staff')).status).to.equal(201);
    expect(await storedSessions('staff'), 'the session is stored').to.equal(1);
  });

  for (const [userId, message] of [
    ['intern', NO_PROFILE_MESSAGE],
    ['gone', DISABLED_MESSAGE],
    ['nobody', UNKNOWN_USER_MESSAGE],
  ] as const) {
    it(`refuses ${userId} with 403 and the message the user sees`, async () => {
      const res = await mint(userId);
      expect(res.status).to.equal(403);
      expect(res.body.detail).to.equal(message);
      expect(res.body.vetoedBy).to.equal('enrollment-profiles');
      expect(await storedSessions(userId), 'no session stored').to.equal(0);
    });
  }

  // Which devices count (seen within 90 days, pending under a day) is covered by countsTowardLimit's own tests.
  it('refuses a user at the device limit, and issues a link again once that device checked out', async () => {
    const created = await mint('busy');
    expect(created.status).to.equal(201);
    const phone = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: 'https://gateway.test' });
    await phone.downloadProfile(created.body.profileUrl ?? '');
    await phone.enroll();
    await eventsDelivered(gw.gateway);

    const refused = await mint('busy');
    expect(refused.status).to.equal(403);
    expect(refused.body.detail).to.equal(DEVICE_LIMIT_MESSAGE);

    await phone.checkOut();
    expect((await mint('busy')).status).to.equal(201);
  });
});

import { expect } from 'chai';
import { DEVICE_LIMIT_MESSAGE } from 'enrollment-gateway/sdk';
import {
  fixtureUserDirectory,
  recordingPush,
  TEST_TOPIC,
  testAdminTokens,
} from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { NO_PROFILE_MESSAGE } from '../src/matching.js';
import { DISABLED_MESSAGE, UNKNOWN_USER_MESSAGE } from '../src/veto.js';
import { ago, call, createProfile, DAY, user } from './helpers.js';

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
    call<{ detail?: string; vetoedBy?: string }>(gw, 'POST', '/api/mdm/enrollments', { userId });
  const sessions = () => gw.gateway.context('mdm').mongo.collection('mdm_enrollments').countDocuments();

  it('issues a link to a user with a profile and room for a device', async () => {
    expect((await mint('staff')).status).to.equal(201);
  });

  for (const [userId, message] of [
    ['intern', NO_PROFILE_MESSAGE],
    ['gone', DISABLED_MESSAGE],
    ['nobody', UNKNOWN_USER_MESSAGE],
  ] as const) {
    it(`refuses ${userId} with 403 and the message the user sees`, async () => {
      const before = await sessions();
      const res = await mint(userId);
      expect(res.status).to.equal(403);
      expect(res.body.detail).to.equal(message);
      expect(res.body.vetoedBy).to.equal('enrollment-profiles');
      expect(await sessions()).to.equal(before);
    });
  }

  it('refuses a user at the device limit, counting only devices seen in the last 90 days', async () => {
    const devices = gw.gateway.context('mdm').mongo.collection('mdm_devices');
    await devices.insertOne({
      udid: 'BUSY-DEVICE-1',
      userId: 'busy',
      state: 'enrolled',
      enrolledAt: ago(10 * DAY),
      lastSeenAt: ago(DAY),
      managedApps: [],
      installedProfiles: [],
      createdAt: ago(10 * DAY),
      updatedAt: ago(DAY),
    });
    const refused = await mint('busy');
    expect(refused.status).to.equal(403);
    expect(refused.body.detail).to.equal(DEVICE_LIMIT_MESSAGE);

    await devices.updateOne({ udid: 'BUSY-DEVICE-1' }, { $set: { lastSeenAt: ago(91 * DAY) } });
    expect((await mint('busy')).status).to.equal(201);
  });
});

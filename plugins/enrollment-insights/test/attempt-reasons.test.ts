import { expect } from 'chai';
import { ENROLLMENT_FAILURE_REASONS, type EnrollmentFailureReason } from 'enrollment-gateway/sdk';
import { eventsDelivered } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import type { StandinAccount } from '../../../test/support/oidc-standin.js';
import { IOS_14, LIMITED_GROUP, type PortalHarness, STAFF_GROUP } from '../../../test/support/portal-harness.js';
import {
  adminGet,
  ageSession,
  deviceWith,
  download,
  fetchProfile,
  profileLink,
  staffAccount,
  startInsightsHarness,
  vetoedUsers,
} from './support.js';

interface FailureItem {
  attemptId: string;
  reason: EnrollmentFailureReason;
  userId?: string;
  userName?: string;
  step: string;
  vetoedBy?: string;
  osVersion?: string;
  profileId?: string;
  remediation: string;
}

async function failures(portal: PortalHarness, query = ''): Promise<FailureItem[]> {
  const res = await adminGet(portal, `/api/enrollment-insights/failures?limit=200${query}`);
  expect(res.status, await res.clone().text()).to.equal(200);
  return ((await res.json()) as { items: FailureItem[] }).items;
}

/**
 * Polls the device until jit-registration has an outcome (ready, or refused) and the sweep has recorded it. The
 * outcome passes a durable event, a readiness job and a sweep, each a worker job: on a machine loaded by the parallel
 * suite that chain has taken over 30 s, so the wait is generous; a quiet run finishes in about a second.
 */
async function pollUntil(done: () => Promise<boolean>, device: { poll(): Promise<unknown> }) {
  await eventually(
    async () => {
      await device.poll();
      expect(await done()).to.equal(true);
    },
    120_000,
    250,
  );
}

describe('enrollment-insights: every failure reason, through the portal and a simulated iPhone', function () {
  this.timeout(300_000);
  let portal: PortalHarness;
  /** Who failed for which reason: user id → expected reason. */
  const expected: [string, EnrollmentFailureReason][] = [];
  let readyUser = '';
  let adaAccount: StandinAccount | undefined;

  before(async () => {
    portal = await startInsightsHarness('insights');
  });
  after(async () => {
    await portal?.stop();
  });

  it('records one failed attempt per reason, and a completed one, and lists them in the API', async () => {
    const { accounts } = portal;
    // Lena (device limit 1) enrolls one iPhone all the way to "ready for work"…
    const lena = await portal.signIn(accounts.limited);
    const lenaSession = await download(lena);
    const lenaPhone = await deviceWith(portal, await fetchProfile(lena, lenaSession));
    await lenaPhone.enroll();
    const directory = portal.gw.gateway.context('mdm');
    await pollUntil(
      async () => (await directory.mongo.collection('insights_steps').findOne({ step: 'ready' })) !== null,
      lenaPhone,
    );
    readyUser = accounts.limited.oid;
    // …then may not add a second one.
    expect((await lena.page('/')).html).to.include('maximum number of devices');
    expected.push([accounts.limited.oid, 'device-limit']);

    await (await portal.signIn(accounts.oldPhone, IOS_14)).page('/');
    expected.push([accounts.oldPhone.oid, 'os-too-old']);
    await (await portal.signIn(accounts.noProfile)).page('/');
    expected.push([accounts.noProfile.oid, 'no-profile']);

    const victor = staffAccount(portal, 'victor');
    vetoedUsers.add(victor.oid);
    const victorClient = await portal.signIn(victor);
    await victorClient.page('/');
    const vetoed = await victorClient.post('/enroll/download', { csrf: await victorClient.csrf() });
    expect(vetoed.status).to.equal(403);
    expected.push([victor.oid, 'vetoed']);

    // Bob downloads twice: the first download is cancelled by the user; the second link expires unused.
    const bob = await portal.signIn(accounts.staff);
    await download(bob);
    const bobSecond = await download(bob);
    const link = await profileLink(bob, bobSecond);
    await ageSession(portal, bobSecond, 1_000);
    const gone = await bob.browser.request(link);
    expect(gone.status).to.equal(410);
    expected.push([accounts.staff.oid, 'user-cancelled']);
    expected.push([accounts.staff.oid, 'link-expired']);

    // Mallory downloads the profile and never installs it: the sweep closes the attempt after the grace.
    const mallory = await portal.signIn(accounts.other);
    const mallorySession = await download(mallory);
    await fetchProfile(mallory, mallorySession);
    // The download's step reaches insights through an event delivery: recorded before the session expires, or the
    // sweep, finding no download, closes the attempt as an unused link.
    await eventsDelivered(portal.gw.gateway);
    await ageSession(portal, mallorySession, 11 * 60_000);
    expected.push([accounts.other.oid, 'not-installed']);

    // Carl installs his profile after its session expired: SCEP refuses the challenge.
    const carl = staffAccount(portal, 'carl');
    const carlClient = await portal.signIn(carl);
    const carlSession = await download(carlClient);
    const carlPhone = await deviceWith(portal, await fetchProfile(carlClient, carlSession));
    await ageSession(portal, carlSession, 1_000);
    const scepRefused = await carlPhone.enroll().then(
      () => false,
      () => true,
    );
    expect(scepRefused, 'SCEP refuses an expired challenge').to.equal(true);
    expected.push([carl.oid, 'challenge-refused']);

    // Ivan installs his profile on Lena's iPhone: Authenticate refuses a device managed for another user.
    const ivan = staffAccount(portal, 'ivan');
    const ivanClient = await portal.signIn(ivan);
    const ivanPhone = await deviceWith(
      portal,
      await fetchProfile(ivanClient, await download(ivanClient)),
      lenaPhone.udid,
    );
    const authRefused = await ivanPhone.enroll().then(
      () => false,
      () => true,
    );
    expect(authRefused, 'Authenticate refuses the device of another user').to.equal(true);
    expected.push([ivan.oid, 'identity-refused']);

    // Ada's iPhone refuses to install Authenticator.
    const ada = staffAccount(portal, 'ada');
    adaAccount = ada;
    const adaClient = await portal.signIn(ada);
    const adaPhone = await deviceWith(portal, await fetchProfile(adaClient, await download(adaClient)));
    adaPhone.script({ RequestType: 'InstallApplication', respond: 'Error' });
    await adaPhone.enroll();
    const adaFailed = async () => (await failures(portal, '&reason=authenticator-failed')).length > 0;
    await pollUntil(adaFailed, adaPhone);
    expected.push([ada.oid, 'authenticator-failed']);

    expect(new Set(expected.map(([, reason]) => reason))).to.have.length(ENROLLMENT_FAILURE_REASONS.length);
    await eventually(
      async () => {
        const items = await failures(portal);
        for (const [userId, reason] of expected) {
          const item = items.find((i) => i.userId === userId && i.reason === reason);
          expect(item, `${reason} for ${userId}: ${JSON.stringify(items.map((i) => [i.userName, i.reason]))}`).to.exist;
        }
      },
      30_000,
      200,
    );
    const items = await failures(portal);
    expect(items.find((i) => i.reason === 'vetoed')).to.include({ vetoedBy: 'test-veto', step: 'session-created' });
    expect(items.find((i) => i.reason === 'os-too-old')).to.include({ osVersion: '14.8', step: 'os-checked' });
    expect(items.find((i) => i.reason === 'identity-refused')).to.include({ step: 'authenticated' });
    expect(items.every((i) => i.remediation.length > 20)).to.equal(true);
    // The successful attempt has every step up to "ready" and no failure.
    expect(items.some((i) => i.userId === readyUser && i.reason !== 'device-limit')).to.equal(false);
  });

  it('filters failures by reason, user, group, profile and OS version', async () => {
    const byReason = await failures(portal, '&reason=os-too-old');
    expect(byReason.map((i) => i.reason)).to.deep.equal(['os-too-old']);
    const byUser = await failures(portal, `&user=${encodeURIComponent('nora')}`);
    expect(byUser.map((i) => i.reason)).to.deep.equal(['no-profile']);
    // Lena alone is in the limited group; every staff account but Nora is in the staff group.
    const byGroup = await failures(portal, `&groupId=${LIMITED_GROUP}`);
    expect(byGroup.map((i) => i.reason)).to.deep.equal(['device-limit']);
    const staff = await failures(portal, `&groupId=${STAFF_GROUP}`);
    expect(staff.map((i) => i.reason)).to.include.members(['os-too-old', 'device-limit', 'not-installed']);
    expect(staff.map((i) => i.reason)).not.to.include('no-profile');
    expect(
      staff.every((i) => !('groups' in i)),
      'groups stay internal',
    ).to.equal(true);
    expect(await failures(portal, '&osVersion=14')).to.have.length(1);
    expect((await failures(portal, '&osVersion=17')).length).to.be.greaterThan(3);
    const profileId = (await failures(portal, '&reason=vetoed'))[0].profileId;
    expect(profileId).to.be.a('string');
    const byProfile = await failures(portal, `&profileId=${profileId}`);
    expect(byProfile.length).to.be.greaterThan(3);
    expect(byProfile.every((i) => i.profileId === profileId)).to.equal(true);
    const bad = await adminGet(portal, '/api/enrollment-insights/failures?reason=bored');
    expect(bad.status).to.equal(400);
    expect(bad.headers.get('content-type')).to.include('application/problem+json');
  });

  it('exports the failures as CSV with the reason and its remediation', async () => {
    const res = await adminGet(portal, '/api/enrollment-insights/failures.csv');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.include('text/csv');
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).to.match(/^at,attemptId,reason,label,step,userName/);
    for (const reason of ENROLLMENT_FAILURE_REASONS)
      expect(
        lines.some((l) => l.includes(`,${reason},`)),
        reason,
      ).to.equal(true);
    const filtered = (await (await adminGet(portal, '/api/enrollment-insights/failures.csv?reason=no-profile')).text())
      .trim()
      .split('\n');
    expect(filtered).to.have.length(2);
    expect(filtered[1]).to.include('nora@contoso.test');
  });

  it('counts the funnel from the daily counters: each step, conversions and every reason once', async () => {
    const read = async () => {
      const res = await adminGet(portal, '/api/enrollment-insights/funnel');
      expect(res.status).to.equal(200);
      return (await res.json()) as {
        steps: { step: string; count: number; conversion: number | null }[];
        days: { day: string; attempts: number; enrolled: number; ready: number; failed: number }[];
        failures: { reason: string; count: number }[];
      };
    };
    await eventually(
      async () => {
        const report = await read();
        for (const failure of report.failures) expect(failure.count, failure.reason).to.equal(1);
      },
      20_000,
      200,
    );
    const report = await read();
    const count = (step: string) => report.steps.find((s) => s.step === step)?.count;
    expect(count('ready')).to.equal(1);
    expect(count('token-updated')).to.equal(2);
    expect(count('authenticated')).to.equal(2);
    expect(count('signed-in')).to.be.greaterThanOrEqual(9);
    expect(report.days.at(-1)).to.include({ ready: 1, enrolled: 2, failed: ENROLLMENT_FAILURE_REASONS.length });
    // Lena, Ivan and Ada got an identity; Ivan's was refused at Authenticate.
    expect(count('identity-issued')).to.equal(3);
    expect(report.steps.find((s) => s.step === 'authenticated')?.conversion).to.equal(0.667);
    const none = await adminGet(portal, '/api/enrollment-insights/funnel?profileId=nothing');
    const empty = (await none.json()) as { steps: { count: number }[] };
    expect(empty.steps.every((s) => s.count === 0)).to.equal(true);
    expect((await adminGet(portal, '/api/enrollment-insights/funnel?from=2026-02-01&to=2025-01-01')).status).to.equal(
      400,
    );
  });

  it("tells the device user the reason of their last attempt on the portal's troubleshooting page", async () => {
    const nora = await portal.signIn(portal.accounts.noProfile);
    const help = await nora.page('/help');
    expect(help.status).to.equal(200);
    const card = /<section class="card" id="last-attempt"[^>]*>([\s\S]*?)<\/section>/.exec(help.html);
    expect(card?.[0]).to.include('data-outcome="failed"');
    expect(card?.[1]).to.include('Your account is not set up for enrolling devices yet');
    // Ada's attempt stopped at the Authenticator.
    const ada = await portal.signIn(adaAccount as StandinAccount);
    expect((await ada.page('/help')).html).to.include('Microsoft Authenticator could not be installed');
    // Signed out: no attempt to show.
    expect((await portal.client().page('/help')).html).not.to.include('id="last-attempt"');
  });
});

import { expect } from 'chai';
import { userDirectoryRef } from 'enrollment-gateway/sdk';
import { eventsDelivered } from 'enrollment-gateway/testing';
import { mongo } from 'mongoose';
import { eventually } from '../../../test/support/eventually.js';
import type { StandinAccount } from '../../../test/support/oidc-standin.js';
import type { TestBrowser } from '../../../test/support/test-browser.js';
import { ADMIN_GROUP, type IdentityFixture, PUBLIC_URL, STAFF_GROUP, startIdentityFixture } from './support.js';

const PILOT_GROUP = 'a0000000-0000-0000-0000-0000000091a7';

/**
 * The group refresh reads every Entra user's groups from Graph (the stand-in's getMemberGroups) in the work role,
 * so a change in Entra reaches the gateway without the user signing in again.
 */
describe('identity-entra: group refresh from Microsoft Graph', function () {
  this.timeout(120_000);
  let fx: IdentityFixture;
  /** Signed in once: a sign-in stores the groups its token carries, so reading must not sign in again. */
  let admin: TestBrowser;

  const ctx = () => fx.gw.gateway.context('identity-entra');
  const groupEvents = () => ctx().mongo.collection('core_events').countDocuments({ event: 'user.groupsChanged' });
  const refreshDocs = () => ctx().mongo.collection('identity_group_refreshes').countDocuments();
  /** One pass of the refresh job, as the scheduler would start it. */
  const runRefresh = async () => {
    const job = await ctx().queue<{ kind: 'refresh' }>('identity-group-refresh').add('refresh', { kind: 'refresh' });
    await eventually(async () => expect(await job.getState()).to.equal('completed'), 30_000);
    await eventsDelivered(fx.gw.gateway);
  };
  const groupsOf = async (account: StandinAccount) => {
    const res = await admin.request(`${PUBLIC_URL}/api/identity/users/${account.oid}`);
    expect(res.status).to.equal(200);
    return ((await res.json()) as { groups: string[] }).groups;
  };

  before(async () => {
    fx = await startIdentityFixture('groups-refresh');
    admin = (await fx.signIn(fx.accounts.admin)).browser;
  });
  after(async () => {
    await fx?.stop();
  });

  it('takes an admin group away without a new sign-in: the open session loses admin rights', async () => {
    const account = fx.accounts.groupAdmin;
    const session = await fx.signIn(account);
    expect((await session.browser.request(`${PUBLIC_URL}/api/mdm/devices`)).status).to.equal(200);
    const eventsBefore = await groupEvents();

    account.groups = [STAFF_GROUP];
    await runRefresh();
    expect(await groupEvents()).to.equal(eventsBefore + 1);
    expect((await session.browser.request(`${PUBLIC_URL}/api/mdm/devices`)).status).to.equal(403);
    expect(await groupsOf(account)).to.deep.equal([STAFF_GROUP]);
  });

  it('a pass that finds the same groups writes nothing and raises nothing', async () => {
    const [eventsBefore, docsBefore] = [await groupEvents(), await refreshDocs()];
    await runRefresh();
    expect(await groupEvents()).to.equal(eventsBefore);
    expect(await refreshDocs()).to.equal(docsBefore);
  });

  it('a later sign-in is the newer word: its groups replace the refreshed ones, and the change is announced', async () => {
    const account = fx.accounts.user;
    await fx.signIn(account);
    account.groups = [STAFF_GROUP, PILOT_GROUP];
    await runRefresh();
    expect(await groupsOf(account)).to.deep.equal([STAFF_GROUP, PILOT_GROUP]);

    // Entra's token now says otherwise (Graph agrees): the sign-in stores it and announces the move off PILOT.
    account.groups = [STAFF_GROUP];
    const eventsBefore = await groupEvents();
    await fx.signIn(account);
    await eventsDelivered(fx.gw.gateway);
    expect(await groupsOf(account)).to.deep.equal([STAFF_GROUP]);
    expect(await groupEvents()).to.equal(eventsBefore + 1);
    // The outbox keeps the payload as BSON bytes; the newest of this user's events is the sign-in's.
    const [event] = await ctx()
      .mongo.collection<{ _id: string; payload: mongo.Binary }>('core_events')
      .find({ event: 'user.groupsChanged', _id: { $regex: `^user\\.groupsChanged:${account.oid}:` } })
      .sort({ at: -1 })
      .limit(1)
      .toArray();
    expect(event, 'the sign-in raised user.groupsChanged').to.exist;
    const { payload } = mongo.BSON.deserialize(event.payload.buffer);
    expect(payload).to.deep.include({ groups: [STAFF_GROUP], previous: [STAFF_GROUP, PILOT_GROUP] });
  });

  it('Graph throttling stops the pass where it is and changes nothing; a user Graph does not know keeps their groups', async () => {
    const throttled = fx.accounts.admin;
    const unknown = fx.accounts.user;
    const before = await groupsOf(unknown);
    throttled.groups = [STAFF_GROUP, PILOT_GROUP];
    fx.standin.graphRefusals.set(throttled.oid, 429);
    fx.standin.graphRefusals.set(unknown.oid, 404);
    try {
      const eventsBefore = await groupEvents();
      await runRefresh();
      expect(await groupEvents()).to.equal(eventsBefore);
      expect(await groupsOf(throttled)).to.deep.equal([STAFF_GROUP]);
      // The next run goes on from where the throttled one stopped, and reads the admin's groups once Graph answers.
      fx.standin.graphRefusals.delete(throttled.oid);
      await runRefresh();
      expect(await groupsOf(throttled)).to.deep.equal([STAFF_GROUP, PILOT_GROUP]);
      expect(await groupsOf(unknown)).to.deep.equal(before);
    } finally {
      fx.standin.graphRefusals.clear();
      throttled.groups = [STAFF_GROUP];
    }
  });

  it("lists a group's members as their groups are now (the user directory of the SDK)", async () => {
    // The profile still names ADMIN_GROUP (only sign-ins write it); the refresh after it took the group away.
    const profiles = ctx().mongo.collection<{ _id: string; groups: string[] }>('identity_users');
    expect(await profiles.countDocuments({ _id: fx.accounts.groupAdmin.oid, groups: ADMIN_GROUP })).to.equal(1);
    const directory = ctx().resolve(userDirectoryRef);
    expect(await directory.membersOf?.(ADMIN_GROUP, 10)).to.deep.equal([]);
    const staff = await directory.membersOf?.(STAFF_GROUP, 10);
    expect(staff).to.include.members([fx.accounts.groupAdmin.oid, fx.accounts.admin.oid, fx.accounts.user.oid]);
  });

  it('pages a group past members whose sign-in is outdated by a refresh (one at a time)', async () => {
    const GAMMA = 'a0000000-0000-0000-0000-00000000ca11';
    const [u1, u2] = ['01', '02'].map((n) =>
      fx.standin.addAccount({
        oid: `00000000-0000-0000-0000-0000000000${n}`,
        upn: `gamma${n}@contoso.test`,
        name: `Gamma ${n}`,
        groups: [GAMMA],
      }),
    );
    for (const account of [u1, u2]) expect((await fx.signIn(account)).final.status).to.equal(200);
    const directory = ctx().resolve(userDirectoryRef);
    expect(await directory.membersOf?.(GAMMA, 1)).to.deep.equal([u1.oid]);
    // u1 leaves the group in Entra: its sign-in still names it, the refresh does not; u2 is the first member now.
    u1.groups = [];
    await runRefresh();
    expect(await directory.membersOf?.(GAMMA, 1)).to.deep.equal([u2.oid]);
    expect(await directory.membersOf?.(GAMMA, 10)).to.deep.equal([u2.oid]);
  });
});

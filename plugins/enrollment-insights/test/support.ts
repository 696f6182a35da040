import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { definePlugin, enrollmentPayloadsPoint, VetoError } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import {
  PORTAL_URL,
  type PortalClient,
  type PortalHarness,
  STAFF_GROUP,
  startPortalHarness,
} from '../../../test/support/portal-harness.js';

export const VETO_MESSAGE = 'This account may not enroll devices.';
/** Users the test veto plugin refuses. */
export const vetoedUsers = new Set<string>();

/** Vetoes the enrollment of some users, as a compliance plugin would. */
export const vetoPlugin = definePlugin({
  name: 'test-veto',
  version: '1.0.0',
  coreApi: '^2.0.0',
  dependsOn: ['mdm'],
  register(api) {
    api.contribute(enrollmentPayloadsPoint, () => ({
      async payloads(request) {
        if (vetoedUsers.has(request.userId)) throw new VetoError('test-veto', VETO_MESSAGE);
        return [];
      },
    }));
  },
});

/** The portal stack with enrollment-insights, its sweep every 300 ms. */
export function startInsightsHarness(label: string): Promise<PortalHarness> {
  return startPortalHarness(label, {
    extraPlugins: [vetoPlugin],
    enable: [
      'admin-access',
      'identity-entra',
      'mdm',
      'enrollment-profiles',
      'jit-registration',
      'company-portal',
      'enrollment-insights',
    ],
    plugins: { 'enrollment-insights': { sweepIntervalMs: 300 } },
  });
}

export function staffAccount(portal: PortalHarness, name: string) {
  return portal.standin.addAccount({
    oid: randomUUID(),
    upn: `${name}@contoso.test`,
    name: `${name[0].toUpperCase()}${name.slice(1)} Staff`,
    groups: [STAFF_GROUP],
  });
}

/** Posts the Enroll form; returns the new session's id. */
export async function download(client: PortalClient): Promise<string> {
  await client.page('/');
  const res = await client.post('/enroll/download', { csrf: await client.csrf() });
  expect(res.status).to.equal(303);
  const id = /^\/enroll\/status\/([0-9a-f-]{36})$/.exec(res.headers.get('location') ?? '')?.[1];
  expect(id, 'redirect to the status page').to.be.a('string');
  return id as string;
}

/** The one-time profile link of a session, as the status page's automatic download follows it. */
export async function profileLink(client: PortalClient, sessionId: string): Promise<string> {
  const hop = await client.browser.request(`${PORTAL_URL}/enroll/status/${sessionId}/profile`);
  expect(hop.status).to.equal(302);
  return hop.headers.get('location') ?? '';
}

/** Downloads the signed profile through the portal. */
export async function fetchProfile(client: PortalClient, sessionId: string): Promise<Buffer> {
  const profile = await client.browser.request(await profileLink(client, sessionId));
  expect(profile.status).to.equal(200);
  return Buffer.from(await profile.arrayBuffer());
}

export async function deviceWith(portal: PortalHarness, profile: Buffer, udid?: string): Promise<SimulatedDevice> {
  const device = await SimulatedDevice.create({
    baseUrl: portal.gw.url,
    publicUrl: PORTAL_URL,
    ...(udid ? { udid } : {}),
  });
  device.installProfileFile(profile);
  return device;
}

/**
 * Moves a session's expiry into the past. Sessions live at least two minutes (mdm's minimum); the test writes
 * mdm's record instead of waiting, the one state no request can reach sooner.
 */
export async function ageSession(portal: PortalHarness, sessionId: string, byMs: number): Promise<void> {
  await portal.gw.gateway
    .context('mdm')
    .mongo.collection('mdm_enrollments')
    .updateOne({ _id: sessionId as never }, { $set: { expiresAt: new Date(Date.now() - byMs) } });
}

export async function adminGet(portal: PortalHarness, path: string): Promise<Response> {
  return portal.gw.fetch(path, { headers: { authorization: 'Bearer admin-all' } });
}

import type Router from '@koa/router';
import {
  adminApi,
  auditAdminAction,
  deviceDirectoryRef,
  type GatewayContext,
  type GatewayState,
  NotFoundProblem,
  type PluginContext,
  ProblemError,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { acmePayload, type IdentityPayloads } from '../services/identity-payload.js';
import type { PropertyAttestations } from '../services/property-attestation.js';
import type { IdentityRenewals } from '../services/renewals.js';
import type { PropertyRecords } from '../storage/property-records.js';
import type { IdentityRecords } from '../storage/records.js';

const identity = z.enum(['acme-preferred', 'scep-only']);
const profileParams = z.object({ profileId: z.string().min(1).max(200) });
const choice = z.object({ profileId: z.string(), identity, explicit: z.boolean() });

/**
 * Admin API: an enrollment profile's identity choice (ACME preferred, or SCEP only), and an ACME renewal payload for
 * an enrolled device, bound to its current enrollment, UDID and serial number.
 */
export function mountAcmeAdminRoutes(
  router: Router<GatewayState, GatewayContext>,
  ctx: PluginContext<unknown>,
  deps: {
    records: IdentityRecords;
    payloads: IdentityPayloads;
    defaultIdentity: z.infer<typeof identity>;
    properties: PropertyRecords;
    attestations: PropertyAttestations;
    renewals: IdentityRenewals;
  },
): void {
  const api = adminApi(router, ctx, { tags: ['acme'] });

  api.get(
    '/profiles/:profileId/identity',
    {
      scope: 'devices:read',
      summary: "An enrollment profile's device identity: ACME preferred (iOS/iPadOS 16+) or SCEP only",
      params: profileParams,
      responses: { 200: { description: 'The choice', schema: choice } },
    },
    async (koa, { params }) => {
      const explicit = await deps.records.profileChoice(params.profileId);
      koa.body = { profileId: params.profileId, identity: explicit ?? deps.defaultIdentity, explicit: !!explicit };
    },
  );

  api.put(
    '/profiles/:profileId/identity',
    {
      scope: 'profiles:write',
      summary: "Set an enrollment profile's device identity",
      params: profileParams,
      body: z.object({ identity }),
      responses: { 200: { description: 'The choice', schema: choice } },
    },
    async (koa, { params, body }) => {
      const before = await deps.records.profileChoice(params.profileId);
      await deps.records.setProfileChoice({
        _id: params.profileId,
        identity: body.identity,
        updatedAt: new Date(),
        updatedBy: 'admin',
      });
      await auditAdminAction(
        ctx,
        koa,
        'acme.profile-identity.set',
        { type: 'enrollment-profile', id: params.profileId },
        { before, after: body.identity },
      );
      koa.body = { profileId: params.profileId, identity: body.identity, explicit: true };
    },
  );

  api.post(
    '/devices/:deviceId/renewal',
    {
      scope: 'devices:write',
      summary: 'Mint an ACME renewal payload (com.apple.security.acme) bound to the device and its enrollment',
      params: z.object({ deviceId: z.string().min(1).max(100) }),
      responses: {
        201: { description: 'The payload', schema: z.object({ payload: z.record(z.string(), z.unknown()) }) },
        404: { description: 'No such device' },
        409: { description: 'The device is not enrolled' },
      },
    },
    async (koa, { params }) => {
      const device = await ctx.resolve(deviceDirectoryRef).get(params.deviceId);
      if (!device) throw new NotFoundProblem('no such device');
      if (!device.enrollmentId || device.state !== 'enrolled')
        throw new ProblemError(409, 'Conflict', 'only an enrolled device renews its identity');
      const clientIdentifier = await deps.payloads.mint({
        enrollmentId: device.enrollmentId,
        purpose: 'renewal',
        udid: device.udid,
        serialNumber: device.serialNumber,
      });
      await auditAdminAction(ctx, koa, 'acme.renewal.issue', { type: 'device', id: device.id });
      koa.status = 201;
      koa.body = { payload: acmePayload(ctx.gateway.publicUrl, clientIdentifier, device.enrollmentId) };
    },
  );

  mountDeviceAttestationRoutes(api, ctx, deps);
}

const deviceParams = z.object({ deviceId: z.string().min(1).max(100) });
const attestedProperties = z.object({
  deviceId: z.string(),
  udid: z.string(),
  serialNumber: z.string().nullable(),
  osVersion: z.string().nullable(),
  sepOsVersion: z.string().nullable(),
  llbVersion: z.string().nullable(),
  softwareUpdateDeviceId: z.string().nullable(),
  fresh: z.boolean(),
  attestedSince: z.string(),
  verifiedAt: z.string(),
});
const queued = z.object({ commandUuid: z.string() });

/** A device's attested properties (DevicePropertiesAttestation), asking for them again, and delivering a renewal. */
function mountDeviceAttestationRoutes(
  api: ReturnType<typeof adminApi>,
  ctx: PluginContext<unknown>,
  deps: { properties: PropertyRecords; attestations: PropertyAttestations; renewals: IdentityRenewals },
): void {
  const enrolledDevice = async (deviceId: string) => {
    const device = await ctx.resolve(deviceDirectoryRef).get(deviceId);
    if (!device) throw new NotFoundProblem('no such device');
    if (!device.enrollmentId || device.state !== 'enrolled')
      throw new ProblemError(409, 'Conflict', 'the device is not enrolled');
    return device;
  };

  api.get(
    '/devices/:deviceId/attestation',
    {
      scope: 'devices:read',
      summary: "The device's most recent verified DevicePropertiesAttestation",
      params: deviceParams,
      responses: {
        200: { description: 'Attested properties', schema: attestedProperties },
        404: { description: 'None' },
      },
    },
    async (koa, { params }) => {
      const doc = (await deps.properties.latest([params.deviceId])).get(params.deviceId);
      if (!doc) throw new NotFoundProblem('no verified attestation for this device');
      koa.body = {
        deviceId: doc.deviceId,
        udid: doc.udid,
        serialNumber: doc.serialNumber ?? null,
        osVersion: doc.osVersion ?? null,
        sepOsVersion: doc.sepOsVersion ?? null,
        llbVersion: doc.llbVersion ?? null,
        softwareUpdateDeviceId: doc.softwareUpdateDeviceId ?? null,
        fresh: doc.fresh,
        attestedSince: doc.attestedSince.toISOString(),
        verifiedAt: doc.verifiedAt.toISOString(),
      };
    },
  );

  api.post(
    '/devices/:deviceId/attestation',
    {
      scope: 'devices:write',
      summary: 'Ask the device for a fresh DevicePropertiesAttestation (DeviceInformation with a new nonce)',
      params: deviceParams,
      responses: {
        202: { description: 'Queued', schema: queued },
        404: { description: 'No such device' },
        409: { description: 'Not enrolled, or not an iOS/iPadOS 16+ device' },
      },
    },
    async (koa, { params }) => {
      const device = await enrolledDevice(params.deviceId);
      const commandUuid = await deps.attestations.request(device.id);
      if (!commandUuid) throw new ProblemError(409, 'Conflict', 'only iOS/iPadOS 16+ devices attest their properties');
      await auditAdminAction(ctx, koa, 'acme.attestation.request', { type: 'device', id: device.id });
      koa.status = 202;
      koa.body = { commandUuid };
    },
  );

  api.post(
    '/devices/:deviceId/renewal/delivery',
    {
      scope: 'devices:write',
      summary: 'Renew the device identity now: reinstall the enrollment profile with an ACME renewal payload',
      params: deviceParams,
      responses: {
        202: { description: 'InstallProfile queued', schema: queued },
        404: { description: 'No such device' },
        409: { description: 'The device is not enrolled, or its enrollment is not current' },
      },
    },
    async (koa, { params }) => {
      const device = await enrolledDevice(params.deviceId);
      const commandUuid = await deps.renewals.renewNow(device);
      if (!commandUuid) throw new ProblemError(409, 'Conflict', 'the device identity cannot be renewed now');
      await auditAdminAction(ctx, koa, 'acme.renewal.deliver', { type: 'device', id: device.id });
      koa.status = 202;
      koa.body = { commandUuid };
    },
  );
}

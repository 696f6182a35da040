import { inflateRawSync, inflateSync } from 'node:zlib';
/** Shared steps of the unenrollment tests: enroll a simulated iPhone, keep it answering, read what is stored. */
import { expect } from 'chai';
import {
  type DeviceRecord,
  type DomainEvents,
  definePlugin,
  deviceDirectoryRef,
  type Unenrollment,
  unenrollmentRef,
} from 'enrollment-gateway/sdk';
import { mongo as driver, Types } from 'mongoose';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import { adminHeaders } from '../../../test/support/fixture-plugins.js';
import type { TestGateway } from '../../../test/support/gateway.js';

export const PUBLIC_URL = 'https://gateway.test';
export const AUTHENTICATOR = 'com.azure.authenticator';
export const SSO_PROFILE = 'test.gateway.jit.sso';
export const MDM_PROFILE = 'test.gateway.enrollment';

/** Records device.unenrolled wherever it is raised in this process. */
export function unenrolledRecorder() {
  const seen: DomainEvents['device.unenrolled'][] = [];
  const plugin = definePlugin({
    name: 'unenrolled-recorder',
    version: '1.0.0',
    coreApi: '^2.0.0',
    register(api) {
      api.on('device.unenrolled', (event) => {
        seen.push(event);
      });
    },
  });
  return { plugin, seen };
}

export async function mint(gw: TestGateway, userId: string): Promise<string> {
  const res = await gw.fetch('/api/mdm/enrollments', {
    method: 'POST',
    headers: adminHeaders(),
    body: JSON.stringify({ userId }),
  });
  expect(res.status).to.equal(201);
  return ((await res.json()) as { profileUrl: string }).profileUrl;
}

export async function deviceIdOf(gw: TestGateway, udid: string): Promise<string> {
  return (await deviceRecord(gw, udid)).id;
}

/** The device as the mdm plugin describes it (SDK directory). */
export async function deviceRecord(gw: TestGateway, udid: string): Promise<DeviceRecord> {
  const record = await gw.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(udid);
  if (!record) throw new Error(`device ${udid} is not recorded`);
  return record;
}

/** The device's identity certificates, through the admin API. */
export async function certificatesOf(gw: TestGateway, deviceId: string) {
  const res = await gw.fetch(`/api/mdm/devices/${deviceId}/certificates`, { headers: adminHeaders() });
  expect(res.status).to.equal(200);
  return ((await res.json()) as { items: { serial: string; revokedAt: string | null }[] }).items;
}

/** Enrolls a simulated iPhone and lets it take Authenticator and the SSO profile (just-in-time registration). */
export async function enrolledDevice(gw: TestGateway, userId = 'alice', device?: SimulatedDevice) {
  const phone = device ?? (await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL }));
  await phone.downloadProfile(await mint(gw, userId));
  await phone.enroll();
  await eventsDelivered(gw.gateway);
  const id = await deviceIdOf(gw, phone.udid);
  await eventually(async () => {
    const answered = await phone.poll();
    expect(answered.map((a) => a.requestType)).to.include.members(['InstallApplication', 'InstallProfile']);
  });
  expect([...phone.state.apps.keys()]).to.include(AUTHENTICATOR);
  expect([...phone.state.profiles.keys()]).to.include.members([SSO_PROFILE, MDM_PROFILE]);
  return { device: phone, id };
}

/** The phone as it behaves in real life: it answers whenever it is reachable, until its profile is gone. */
export function keepPolling(device: SimulatedDevice, intervalMs = 40) {
  let running = true;
  const errors: Error[] = [];
  const loop = (async () => {
    while (running && device.enrolled) {
      try {
        await device.poll();
      } catch (error) {
        errors.push(error as Error);
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    errors,
    async stop() {
      running = false;
      await loop;
    },
  };
}

export const service = (gw: TestGateway) => gw.gateway.context('unenrollment').resolve(unenrollmentRef);

export async function finished(gw: TestGateway, deviceId: string, timeoutMs = 20_000): Promise<Unenrollment> {
  return eventually(
    async () => {
      const current = await service(gw).get(deviceId);
      expect(current?.state, JSON.stringify(current?.steps)).to.be.oneOf(['completed', 'device-unreachable']);
      return current as Unenrollment;
    },
    timeoutMs,
    50,
  );
}

export const stepStates = (u: Unenrollment) => Object.fromEntries(u.steps.map((s) => [s.name, s.state]));

export const mongo = (gw: TestGateway) => gw.gateway.context('mdm').mongo;

/** Commands of one device by RequestType, oldest first, with their states, through mdm's admin API. */
export async function commandsOf(
  gw: TestGateway,
  deviceId: string,
  requestType?: string,
): Promise<{ commandUuid: string; requestType: string; state: string }[]> {
  const res = await gw.fetch(`/api/mdm/devices/${deviceId}/commands?limit=200`, { headers: adminHeaders() });
  expect(res.status).to.equal(200);
  const { items } = (await res.json()) as { items: { commandUuid: string; requestType: string; state: string }[] };
  return items.filter((c) => !requestType || c.requestType === requestType).reverse();
}

/** Command plists are stored deflated: search the inflated bytes too. */
function withInflated(bytes: Buffer): Buffer[] {
  try {
    return [bytes, inflateRawSync(bytes)];
  } catch {
    try {
      return [bytes, inflateSync(bytes)];
    } catch {
      return [bytes];
    }
  }
}

/** Every byte string inside a stored document (plists of commands, raw answers), decoded. */
function binariesOf(value: unknown, out: Buffer[] = []): Buffer[] {
  if (value instanceof driver.Binary) out.push(...withInflated(Buffer.from(value.buffer)));
  else if (Buffer.isBuffer(value) || value instanceof Uint8Array) out.push(...withInflated(Buffer.from(value)));
  else if (Array.isArray(value)) for (const inner of value) binariesOf(inner, out);
  else if (value && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Types.ObjectId))
    for (const inner of Object.values(value)) binariesOf(inner, out);
  return out;
}

/** What Redis holds under the gateway's prefix (job data, events), as text. */
async function redisText(gw: TestGateway): Promise<string> {
  const redis = gw.gateway.context('mdm').createRedis('secret-scan');
  try {
    const parts: string[] = [];
    for await (const keys of redis.scanStream({ match: `${gw.redisPrefix}*`, count: 500 })) {
      for (const key of keys as string[]) {
        const type = await redis.type(key);
        if (type === 'string') parts.push((await redis.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    }
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

/**
 * Every document of every collection — its JSON and every byte string in it (command plists, raw answers) — and
 * every Redis key under the test prefix: none may hold the device's push token (bytes, hex or base64), PushMagic
 * or UnlockToken, and mdm may hold no key or encrypted value for the device.
 */
export async function assertNothingSecretLeft(gw: TestGateway, device: SimulatedDevice, deviceId: string) {
  const db = mongo(gw).db;
  if (!db) throw new Error('no database');
  const secrets = [
    device.pushToken.toString('hex'),
    device.pushToken.toString('base64'),
    device.pushMagic,
    device.unlockToken.toString('base64'),
    device.unlockToken.toString('hex'),
  ];
  const rawSecrets = [device.pushToken, device.unlockToken, Buffer.from(device.pushMagic)];
  for (const { name } of await db.listCollections().toArray()) {
    const docs = await db.collection(name).find({}).toArray();
    const text = JSON.stringify(docs);
    for (const secret of secrets) expect(text.includes(secret), `${name} holds a device secret`).to.equal(false);
    for (const bytes of binariesOf(docs)) {
      const decoded = bytes.toString('utf8');
      for (const secret of secrets)
        expect(decoded.includes(secret), `a byte field in ${name} holds a device secret`).to.equal(false);
      for (const secret of rawSecrets)
        expect(bytes.includes(secret), `a byte field in ${name} holds a device secret`).to.equal(false);
    }
  }
  const redis = await redisText(gw);
  expect(redis.length, 'the Redis scan found nothing: wrong prefix?').to.be.greaterThan(0);
  for (const secret of secrets) expect(redis.includes(secret), 'Redis holds a device secret').to.equal(false);
  expect(await db.collection('mdm_push_credentials').countDocuments({ deviceId })).to.equal(0);
  expect((await gw.gateway.context('mdm').resolve(deviceDirectoryRef).get(deviceId))?.pushable).to.equal(false);
  expect(await db.collection('mdm_device_keys').countDocuments({ _id: deviceId as never })).to.equal(0);
}

/**
 * The identity is refused everywhere a device speaks: check-in (TokenUpdate, CheckOut, Authenticate), command
 * polling and SCEP renewal get 403, never 401.
 */
export async function assertIdentityRefused(device: SimulatedDevice) {
  const topic = device.enrollment?.mdm.topic ?? '';
  const attempts = [
    await device.sendReport({ UDID: device.udid, Status: 'Idle' }),
    await device.sendCheckin({
      MessageType: 'TokenUpdate',
      UDID: device.udid,
      Topic: topic,
      Token: device.pushToken,
      PushMagic: device.pushMagic,
    }),
    await device.sendCheckin({ MessageType: 'CheckOut', UDID: device.udid, Topic: topic }),
  ];
  for (const result of attempts) expect(result.status, result.body.toString()).to.equal(403);
  const authenticate = (await device.authenticate().catch((error: unknown) => error)) as { status?: number };
  expect(authenticate?.status).to.equal(403);
  const identity = device.identity;
  const renewal = (await device.renewIdentity().catch((error: unknown) => error)) as { reason?: string };
  expect(renewal?.reason, 'SCEP renewal with the retired identity: a CertRep FAILURE').to.equal('scep-failure');
  // A refused renewal leaves the device with the identity it had.
  expect(device.identity).to.equal(identity);
}

export async function retireByAdmin(gw: TestGateway, deviceId: string, token = 'admin-all') {
  return gw.fetch(`/api/unenrollment/devices/${deviceId}/retire`, { method: 'POST', headers: adminHeaders(token) });
}

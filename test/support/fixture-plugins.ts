/**
 * Plugins the tests add around the plugin under test. They stand in for *other* plugins at the SDK
 * boundary (an admin credential, a push topic), never for the code being tested.
 */
import {
  type AdminPrincipal,
  adminAuthenticatorsPoint,
  type DeviceRecord,
  type DirectoryUser,
  definePlugin,
  deviceDirectoryRef,
  type MdmSetupStatus,
  mdmSetupRef,
  ProblemError,
  type PushService,
  pushServiceRef,
  pushTopicRef,
  userDirectoryRef,
} from '../../core/sdk/index.js';

export const TEST_TOPIC = 'com.apple.mgmt.External.00000000-1111-2222-3333-444444444444';

/** Bearer tokens "admin-all" (every scope) and "reader" (devices:read) for the admin API. */
export const testAdminTokens = definePlugin({
  name: 'test-admin-tokens',
  version: '1.0.0',
  coreApi: '^2.0.0',
  dependsOn: ['admin-access'],
  register(api) {
    const principals: Record<string, AdminPrincipal> = {
      'admin-all': { id: 'test-admin', kind: 'bearer', displayName: 'Test Admin', scopes: ['*'] },
      reader: { id: 'test-reader', kind: 'bearer', displayName: 'Test Reader', scopes: ['devices:read'] },
    };
    api.contribute(adminAuthenticatorsPoint, () => ({
      name: 'test-bearer',
      async authenticate(ctx) {
        const header = ctx.get('authorization');
        if (!header.startsWith('Bearer ')) return undefined;
        const principal = principals[header.slice(7)];
        if (!principal) throw new ProblemError(401, 'Invalid token', 'unknown test token');
        return principal;
      },
    }));
  },
});

/** A push plugin at the SDK boundary that records wakes; the real one is plugins/apns. */
export function recordingPush(options: { topic?: string } = {}) {
  const woken: string[][] = [];
  const plugin = definePlugin({
    name: 'apns',
    version: '1.0.0',
    coreApi: '^2.0.0',
    register(api) {
      api.provide(pushTopicRef, () => ({ currentTopic: async () => options.topic }));
      api.provide(
        pushServiceRef,
        (): PushService => ({
          wake: async (ids) => {
            woken.push([...ids]);
          },
        }),
      );
    },
  });
  return { plugin, woken };
}

export const adminHeaders = (token = 'admin-all') => ({
  authorization: `Bearer ${token}`,
  'content-type': 'application/json',
});

/**
 * An identity provider at the SDK boundary: users and groups the test controls. Named like the real
 * identity plugin ('identity-entra') so plugins listing it in optionalDependsOn may resolve it.
 */
export function fixtureUserDirectory(options: { users?: DirectoryUser[]; groups?: string[] } = {}) {
  const users = new Map((options.users ?? []).map((user) => [user.id, user]));
  const groups = new Set(options.groups ?? []);
  const plugin = definePlugin({
    name: 'identity-entra',
    version: '1.0.0',
    coreApi: '^2.0.0',
    register(api) {
      api.provide(userDirectoryRef, () => ({
        get: async (userId) => users.get(userId),
        knownGroups: async (ids) => ({
          known: ids.filter((id) => groups.has(id)),
          unknown: ids.filter((id) => !groups.has(id)),
        }),
        membersOf: async (group, limit) =>
          [...users.values()]
            .filter((user) => user.groups.includes(group))
            .map((user) => user.id)
            .slice(0, limit),
      }));
    },
  });
  return { plugin, users, groups };
}

/**
 * The mdm plugin's read side at the SDK boundary: device records and setup problems the test
 * constructs (ages, states), without enrolling real devices.
 */
export function fixtureDeviceDirectory() {
  const devices: DeviceRecord[] = [];
  const missing: Awaited<ReturnType<MdmSetupStatus['missing']>> = [];
  const plugin = definePlugin({
    name: 'mdm',
    version: '1.0.0',
    coreApi: '^2.0.0',
    register(api) {
      api.provide(deviceDirectoryRef, () => ({
        get: async (id) => devices.find((d) => d.id === id),
        getByUdid: async (udid) => devices.find((d) => d.udid === udid),
        listForUser: async (userId) => devices.filter((d) => d.userId === userId),
      }));
      api.provide(mdmSetupRef, () => ({ missing: async () => [...missing] }));
    },
  });
  return { plugin, devices, missing };
}

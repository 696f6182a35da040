/**
 * A device store at the SDK boundary for tests and the push benchmark: device ids map to deterministic tokens
 * and PushMagic, so separate processes agree without a shared database and a benchmark needs no 100k enrolled
 * devices. It contributes to push.targetSources like the mdm plugin does.
 */
import { createHash } from 'node:crypto';
import { definePlugin, type PushTarget, pushTargetSourcesPoint } from 'enrollment-gateway/sdk';

export const syntheticToken = (deviceId: string) => createHash('sha256').update(deviceId).digest('hex');
export const syntheticPushMagic = (deviceId: string) => `magic-${deviceId}`;

export function syntheticPushTargets(topic: string) {
  const invalid = new Map<string, string>();
  const plugin = definePlugin({
    name: 'synthetic-push-targets',
    version: '1.0.0',
    coreApi: '^2.0.0',
    dependsOn: ['apns'],
    register(api) {
      api.contribute(pushTargetSourcesPoint, () => ({
        async get(deviceIds: readonly string[]): Promise<PushTarget[]> {
          return deviceIds
            .filter((id) => !invalid.has(id))
            .map((deviceId) => ({
              deviceId,
              token: syntheticToken(deviceId),
              pushMagic: syntheticPushMagic(deviceId),
              topic,
            }));
        },
        async markInvalid(deviceId: string, _token: string, reason: string) {
          invalid.set(deviceId, reason);
        },
        async needingWake() {
          return [];
        },
      }));
    },
  });
  return { plugin, invalid };
}

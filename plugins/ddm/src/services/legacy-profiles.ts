import {
  type Declaration,
  type DeclarationTarget,
  type LegacyProfile,
  legacyProfilesPoint,
  type PluginContext,
  ProblemError,
  withTimeout,
} from 'enrollment-gateway/sdk';
import type { DdmConfig } from '../config.js';
import { profileDigest, profileToken, readProfileToken } from '../protocol/profile-tokens.js';
import { compareVersions } from '../settings.js';
import type { ProfileUrlKeys } from '../storage/profile-keys.js';

export const LEGACY_TYPE = 'com.apple.configuration.legacy';
export const PROFILE_PATH = '/ddm/profiles';

/** A contributed legacy profile as a declaration, with the plugin that owns it (its activation activates it). */
export interface LegacyDeclaration {
  plugin: string;
  declaration: Declaration;
}

/**
 * Legacy profiles (docs/ddm.md): the profiles plugins contribute to `legacyProfilesPoint` become
 * `com.apple.configuration.legacy` declarations whose ProfileURL carries a token naming the device, its enrollment,
 * the identifier and the digest of the bytes; the download checks the token and serves the owner's current bytes.
 */
export class LegacyProfiles {
  constructor(
    private readonly ctx: PluginContext<DdmConfig>,
    private readonly keys: ProfileUrlKeys,
    private readonly targetOf: (deviceId: string) => Promise<DeclarationTarget | undefined>,
  ) {}

  /**
   * The device's legacy declarations. A contributor that fails makes the whole set unavailable (503): a set
   * without the profile would make the device remove it.
   */
  async declarationsFor(target: DeclarationTarget): Promise<LegacyDeclaration[]> {
    const enrollmentId = target.enrollmentId;
    // The legacy declaration exists from iOS 15 on; a profile URL is bound to an enrollment.
    if (!enrollmentId || (target.osVersion && compareVersions(target.osVersion, '15.0') < 0)) return [];
    const contributions = this.ctx.extensions(legacyProfilesPoint);
    if (contributions.length === 0) return [];
    const key = await this.urlKey();
    const found = await Promise.all(
      contributions.map(async ({ plugin, value }) => {
        const bytes = await this.ask(plugin, value, target);
        if (!bytes) return undefined;
        const token = profileToken(key, {
          deviceId: target.deviceId,
          enrollmentId,
          identifier: value.identifier,
          digest: profileDigest(bytes),
        });
        const declaration: Declaration = {
          type: LEGACY_TYPE,
          identifier: value.identifier,
          payload: { ProfileURL: `${this.ctx.gateway.publicUrl}${PROFILE_PATH}/${token}` },
        };
        return { plugin, declaration };
      }),
    );
    return found.filter((d): d is LegacyDeclaration => d !== undefined);
  }

  /**
   * The profile a ProfileURL names, or undefined (the route answers 404) when the token is not one of ours, the
   * device left management or enrolled again, no plugin serves the identifier for it now, or the profile changed
   * since the URL was made (the device's next sync brings the new URL).
   */
  async download(token: string): Promise<Buffer | undefined> {
    const claims = readProfileToken(await this.urlKey(), token);
    if (!claims) return undefined;
    const target = await this.targetOf(claims.deviceId);
    if (!target || target.enrollmentId !== claims.enrollmentId) return undefined;
    const owner = this.ctx.extensions(legacyProfilesPoint).find((c) => c.value.identifier === claims.identifier);
    if (!owner) return undefined;
    const bytes = await this.ask(owner.plugin, owner.value, target);
    return bytes && profileDigest(bytes) === claims.digest ? bytes : undefined;
  }

  /** The URL key; a key the vault cannot open (a master key dropped too early) is 503, like a failing contributor. */
  private async urlKey(): Promise<Buffer> {
    try {
      return await this.keys.current();
    } catch (error) {
      this.ctx.logger.error({ err: error }, 'the legacy profile URL key cannot be read');
      throw new ProblemError(503, 'Service unavailable', 'profiles are not available right now', {
        headers: { 'Retry-After': '60' },
      });
    }
  }

  private async ask(plugin: string, source: LegacyProfile, target: DeclarationTarget): Promise<Buffer | undefined> {
    try {
      return await withTimeout(
        () => source.profileFor(target),
        this.ctx.config.contributionTimeoutMs,
        `${plugin} (legacy profile ${source.identifier})`,
      );
    } catch (error) {
      this.ctx.logger.error({ err: error, contributor: plugin }, 'legacy profile contributor failed');
      throw new ProblemError(503, 'Service unavailable', 'profiles are not available right now', {
        headers: { 'Retry-After': '60' },
      });
    }
  }
}

import {
  type Declaration,
  type DeclarationTarget,
  declarationsPoint,
  deviceDirectoryRef,
  enrollmentSessionsRef,
  type PluginContext,
  ProblemError,
  userDirectoryRef,
  type VersionedSettingsStore,
  withTimeout,
} from 'enrollment-gateway/sdk';
import { builtInDeclarations, contributedProblem, withActivation } from '../builtin-declarations.js';
import type { DdmConfig } from '../config.js';
import { type DeclarationSet, declarationSet } from '../protocol/declarations.js';
import type { DdmSettings } from '../settings.js';
import type { LegacyProfiles } from './legacy-profiles.js';

/** Devices in these states have declarations; a device leaving management has none. */
const MANAGED = new Set(['pending', 'enrolled']);

/**
 * Computes a device's declaration set on demand from its enrollment, enrollment profile and user's groups, the
 * admin's settings and the plugins' contributions. Nothing is stored: the same inputs give the same tokens.
 */
export class DeclarationSets {
  constructor(
    private readonly ctx: PluginContext<DdmConfig>,
    readonly settings: VersionedSettingsStore<DdmSettings>,
    /** The plugins' legacy profiles as declarations, and their downloads. */
    readonly legacy: LegacyProfiles,
  ) {}

  /** Undefined when the device is unknown or not managed (its set is empty then). */
  async target(deviceId: string): Promise<DeclarationTarget | undefined> {
    const device = await this.ctx.resolve(deviceDirectoryRef).get(deviceId);
    if (!device || !MANAGED.has(device.state)) return undefined;
    const [session, user] = await Promise.all([
      device.enrollmentId ? this.ctx.resolve(enrollmentSessionsRef).get(device.enrollmentId) : undefined,
      device.userId ? this.ctx.tryResolve(userDirectoryRef)?.get(device.userId) : undefined,
    ]);
    return {
      deviceId: device.id,
      udid: device.udid,
      userId: device.userId,
      enrollmentId: device.enrollmentId,
      profileId: session?.profileId,
      groups: user?.groups ?? [],
      osVersion: device.osVersion,
      productName: device.productName,
    };
  }

  async forDevice(deviceId: string): Promise<{ target?: DeclarationTarget; set: DeclarationSet }> {
    const target = await this.target(deviceId);
    if (!target) return { set: declarationSet([]) };
    return { target, set: await this.forTarget(target) };
  }

  /**
   * Fails when a contributor fails: a set missing a plugin's declarations would make the device remove them,
   * so the device is told to come back later (503) instead. A plugin's legacy profiles join its declarations, so one
   * activation of the plugin activates both.
   */
  async forTarget(target: DeclarationTarget): Promise<DeclarationSet> {
    const { value: settings } = await this.settings.current();
    const byPlugin = new Map<string, Declaration[]>();
    const add = (plugin: string, declarations: readonly Declaration[]) =>
      byPlugin.set(plugin, [...(byPlugin.get(plugin) ?? []), ...declarations.filter((d) => this.usable(plugin, d))]);
    const [contributed, legacy] = await Promise.all([
      Promise.all(
        this.ctx.extensions(declarationsPoint).map(async ({ plugin, value }) => ({
          plugin,
          declarations: await this.ask(plugin, () => value.declarationsFor(target)),
        })),
      ),
      this.legacy.declarationsFor(target),
    ]);
    for (const { plugin, declarations } of contributed) add(plugin, declarations);
    for (const { plugin, declaration } of legacy) add(plugin, [declaration]);
    const activated = [...byPlugin].flatMap(([plugin, declarations]) => withActivation(plugin, declarations));
    return declarationSet([...builtInDeclarations(settings, target), ...activated]);
  }

  private async ask(plugin: string, call: () => Promise<Declaration[]>): Promise<Declaration[]> {
    try {
      return await withTimeout(call, this.ctx.config.contributionTimeoutMs, `${plugin} (declarations)`);
    } catch (error) {
      this.ctx.logger.error({ err: error, contributor: plugin }, 'declaration contributor failed');
      throw new ProblemError(503, 'Service unavailable', 'declarations are not available right now', {
        headers: { 'Retry-After': '60' },
      });
    }
  }

  private usable(plugin: string, declaration: Declaration): boolean {
    const problem = contributedProblem(declaration);
    if (problem) this.ctx.logger.warn({ contributor: plugin, problem }, 'contributed declaration left out');
    return problem === undefined;
  }
}

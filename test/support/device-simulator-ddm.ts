/**
 * Declarative device management for the simulated iPhone: what iOS does after the DeclarativeManagement command.
 *
 *   const ddm = SimulatedDdm.attach(device, { rejectTypes: ['com.apple.configuration.passcode.settings'] });
 *   await device.poll();             // acknowledges DeclarativeManagement, then syncs (tokens, items, declarations,
 *                                    // status report)
 *   await ddm.advanceSoftwareUpdate(); // downloading → prepared → installing → none (the new OS), reported each step
 *
 * It keeps every declaration it fetched and every status report it sent, for conformance tests.
 */

import type { SimulatedDevice } from './device-simulator-device.js';
import type { HttpResult } from './device-simulator-http.js';
import { DeviceHttpError } from './device-simulator-http.js';
import { LEGACY_TYPE, LegacyProfiles } from './device-simulator-legacy.js';
import type { CommandAnswer } from './device-simulator-state.js';

export interface ServedDeclaration {
  Type: string;
  Identifier: string;
  ServerToken: string;
  Payload: Record<string, unknown>;
}

export interface SimulatedDdmOptions {
  /** Declaration types the device refuses to apply (reported invalid, Error.ConfigurationCannotBeApplied). */
  rejectTypes?: readonly string[];
}

export type InstallState = 'none' | 'downloading' | 'prepared' | 'installing' | 'failed';

type Endpoint = 'tokens' | 'declaration-items' | 'status' | `declaration/${string}/${string}`;
const KINDS = ['activation', 'configuration', 'asset', 'management'] as const;
type Kind = (typeof KINDS)[number];
const kindOf = (type: string): Kind | undefined => KINDS.find((k) => type.startsWith(`com.apple.${k}.`));
const LISTS: Record<Kind, string> = {
  activation: 'activations',
  configuration: 'configurations',
  asset: 'assets',
  management: 'management',
};
const MANIFEST_LISTS: Record<string, Kind> = {
  Activations: 'activation',
  Configurations: 'configuration',
  Assets: 'asset',
  Management: 'management',
};
const ENFORCEMENT = 'com.apple.configuration.softwareupdate.enforcement.specific';
const SUBSCRIPTIONS = 'com.apple.configuration.management.status-subscriptions';

export class SimulatedDdm {
  /** Applied declarations by identifier. */
  readonly declarations = new Map<string, ServedDeclaration>();
  /** Every declaration fetched, in order (conformance tests validate these). */
  readonly fetched: ServedDeclaration[] = [];
  /** Every status report sent, parsed (conformance tests validate these). */
  readonly reports: Record<string, unknown>[] = [];
  /** Every DDM check-in: endpoint and HTTP status. */
  readonly requests: { endpoint: string; status: number }[] = [];
  /** Profiles installed by legacy declarations (com.apple.configuration.legacy) and their downloads. */
  readonly legacy: LegacyProfiles;
  token?: string;
  installState: InstallState = 'none';
  pendingVersion?: string;
  pendingBuild = '';
  private syncRequested?: { token?: string };
  private lastReported = new Map<string, string>();

  private constructor(
    readonly device: SimulatedDevice,
    private readonly options: SimulatedDdmOptions,
  ) {
    this.legacy = new LegacyProfiles(device);
  }

  /** Hooks into the device: the command's answer, a sync after the session, and forgetting on unenrollment. */
  static attach(device: SimulatedDevice, options: SimulatedDdmOptions = {}): SimulatedDdm {
    const ddm = new SimulatedDdm(device, options);
    device.state.commandHandlers.set('DeclarativeManagement', (command) => ddm.onCommand(command.Data));
    device.afterSession.push(async () => {
      const requested = ddm.syncRequested;
      ddm.syncRequested = undefined;
      if (requested) await ddm.sync(requested.token);
      // iOS reports a subscribed item when it changes (an app finished installing during the session).
      else if (ddm.token !== undefined) await ddm.reportStatus();
    });
    device.state.onUnenroll.push(() => ddm.reset());
    return ddm;
  }

  /** Count of declaration-items fetches: one per sync that found new tokens. */
  get itemSyncs(): number {
    return this.requests.filter((r) => r.endpoint === 'declaration-items').length;
  }

  private onCommand(data: unknown): CommandAnswer {
    let token: string | undefined;
    if (Buffer.isBuffer(data)) {
      const parsed = JSON.parse(data.toString('utf8')) as { DeclarationsToken?: string };
      token = parsed.DeclarationsToken;
    }
    this.syncRequested = { token };
    return { status: 'Acknowledged', keys: {} };
  }

  /** iOS removes every declaration with the management profile. */
  reset(): void {
    this.declarations.clear();
    this.legacy.reset();
    this.token = undefined;
    this.lastReported.clear();
    this.installState = 'none';
    this.pendingVersion = undefined;
  }

  /** One sync: tokens (unless the command carried them), then the manifest and changed declarations, then status. */
  async sync(knownToken?: string): Promise<{ changed: boolean }> {
    const token =
      knownToken ??
      ((await this.fetchJson('tokens')) as { SyncTokens: { DeclarationsToken: string } }).SyncTokens.DeclarationsToken;
    if (token === this.token) return { changed: false };
    const items = (await this.fetchJson('declaration-items')) as {
      Declarations: Record<string, { Identifier: string; ServerToken: string }[]>;
      DeclarationsToken: string;
    };
    const listed = new Map<string, { kind: Kind; serverToken: string }>();
    for (const [list, entries] of Object.entries(items.Declarations)) {
      const kind = MANIFEST_LISTS[list];
      if (!kind) continue;
      for (const e of entries) listed.set(e.Identifier, { kind, serverToken: e.ServerToken });
    }
    for (const id of [...this.declarations.keys()]) {
      if (listed.has(id)) continue;
      this.declarations.delete(id);
      this.legacy.remove(id);
    }
    for (const [identifier, { kind, serverToken }] of listed) {
      if (this.declarations.get(identifier)?.ServerToken === serverToken) continue;
      const declaration = (await this.fetchJson(`declaration/${kind}/${identifier}`)) as ServedDeclaration;
      this.fetched.push(declaration);
      this.declarations.set(identifier, declaration);
      if (declaration.Type === LEGACY_TYPE && !this.rejected(declaration))
        await this.legacy.apply(identifier, declaration.Payload);
    }
    this.token = items.DeclarationsToken;
    this.startUpdate();
    await this.reportStatus();
    return { changed: true };
  }

  private rejected(d: ServedDeclaration): boolean {
    return this.options.rejectTypes?.includes(d.Type) ?? false;
  }

  /** An enforcement for a newer OS starts the download. */
  private startUpdate(): void {
    const target = this.enforcedVersion();
    if (target && this.installState === 'none' && newer(target, this.device.info.osVersion)) {
      this.installState = 'downloading';
      this.pendingVersion = target;
      this.pendingBuild = `${20 + Number(target.split('.')[0]) - 16}A${100 + Number(target.split('.')[1] ?? 0)}`;
    }
  }

  private enforcedVersion(): string | undefined {
    const d = [...this.declarations.values()].find((x) => x.Type === ENFORCEMENT && !this.rejected(x));
    return typeof d?.Payload.TargetOSVersion === 'string' ? d.Payload.TargetOSVersion : undefined;
  }

  /** One step of the software update, reported: downloading → prepared → installing → none on the new OS. */
  async advanceSoftwareUpdate(): Promise<InstallState> {
    const next: Partial<Record<InstallState, InstallState>> = {
      downloading: 'prepared',
      prepared: 'installing',
      installing: 'none',
    };
    const step = next[this.installState];
    if (!step) return this.installState;
    if (step === 'none' && this.pendingVersion) {
      this.device.info.osVersion = this.pendingVersion;
      this.device.info.buildVersion = this.pendingBuild;
      this.pendingVersion = undefined;
    }
    this.installState = step;
    await this.reportStatus();
    return step;
  }

  /** The items the device knows, nested by their dots; only subscribed ones (and declarations) are reported. */
  private currentItems(): Map<string, unknown> {
    const info = this.device.info;
    const all = new Map<string, unknown>([
      ['device.model.family', info.productName.startsWith('iPad') ? 'iPad' : 'iPhone'],
      ['device.model.identifier', info.productName],
      ['device.operating-system.version', info.osVersion],
      ['device.operating-system.build-version', info.buildVersion],
      ['passcode.is-present', info.passcodePresent],
      ['passcode.is-compliant', info.passcodePresent],
      ['softwareupdate.install-state', this.installState],
      ['management.declarations', this.declarationStatus()],
      ['mdm.app', this.mdmApps()],
    ]);
    // Reported while an update is pending; Apple's schema has no empty form.
    if (this.pendingVersion)
      all.set('softwareupdate.pending-version', {
        'os-version': this.pendingVersion,
        'build-version': this.pendingBuild,
      });
    const subscribed = new Set(['management.declarations']);
    for (const d of this.declarations.values()) {
      if (d.Type !== SUBSCRIPTIONS || this.rejected(d)) continue;
      for (const item of (d.Payload.StatusItems as { Name: string }[]) ?? []) subscribed.add(item.Name);
    }
    return new Map([...all].filter(([name]) => subscribed.has(name)));
  }

  /** The apps MDM installed (InstallApplication), as the status item mdm.app lists them (iOS 16+). */
  private mdmApps(): Record<string, unknown>[] {
    return [...this.device.state.apps.values()].map((app) => ({
      identifier: app.bundleId,
      name: app.name,
      version: app.version,
      // ManagedApplicationList's Status in kebab case: 'Installing' → 'installing', 'ManagedButUninstalled' → …
      state: app.status.replace(/(?<=[a-z])(?=[A-Z])/g, '-').toLowerCase(),
    }));
  }

  private declarationStatus(): Record<string, unknown[]> {
    const out: Record<string, unknown[]> = { activations: [], configurations: [], assets: [], management: [] };
    for (const d of this.declarations.values()) {
      const kind = kindOf(d.Type);
      if (!kind) continue;
      const failure = this.rejected(d) ? 'simulated refusal' : this.legacy.failures.get(d.Identifier);
      out[LISTS[kind]].push({
        identifier: d.Identifier,
        'server-token': d.ServerToken,
        active: failure === undefined,
        valid: failure === undefined ? 'valid' : 'invalid',
        ...(failure !== undefined
          ? {
              reasons: [
                {
                  code: 'Error.ConfigurationCannotBeApplied',
                  description: `${d.Type} cannot be applied on this device`,
                  details: { Error: failure },
                },
              ],
            }
          : {}),
      });
    }
    return out;
  }

  /** Sends what changed since the last report (everything with `full`). */
  async reportStatus(full = false): Promise<Record<string, unknown> | undefined> {
    const nested: Record<string, unknown> = {};
    for (const [name, value] of this.currentItems()) {
      const text = JSON.stringify(value);
      if (!full && this.lastReported.get(name) === text) continue;
      this.lastReported.set(name, text);
      setNested(nested, name.split('.'), value);
    }
    if (Object.keys(nested).length === 0) return undefined;
    const report = { StatusItems: nested, Errors: [], ...(full ? { FullReport: true } : {}) };
    this.reports.push(report);
    await this.send('status', Buffer.from(JSON.stringify(report)));
    return report;
  }

  private async fetchJson(endpoint: Endpoint): Promise<unknown> {
    const result = await this.send(endpoint);
    return JSON.parse(result.body.toString('utf8')) as unknown;
  }

  private async send(endpoint: Endpoint, data?: Buffer): Promise<HttpResult> {
    const result = await this.device.sendCheckin({
      MessageType: 'DeclarativeManagement',
      UDID: this.device.info.udid,
      Endpoint: endpoint,
      Data: data,
    });
    this.requests.push({ endpoint, status: result.status });
    if (result.status !== 200) throw new DeviceHttpError('checkin', result.status, result.body, result.url);
    return result;
  }
}

function setNested(target: Record<string, unknown>, path: string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Record<string, unknown>;
  }
  at[path[path.length - 1]] = value;
}

function newer(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return false;
}

/**
 * Legacy profile declarations (com.apple.configuration.legacy) on the simulated iPhone: what iOS does with one it
 * applies — GET its ProfileURL over HTTPS (HTTP in tests, through the simulator's URL mapping) with no credentials,
 * insist on a profile, install it (ProfileList shows it) and report the declaration valid; or report it invalid
 * when the download or the profile fails. A declaration that goes away takes its profile with it.
 */

import type { SimulatedDevice } from './device-simulator-device.js';
import { DeviceSimulatorError } from './device-simulator-http.js';
import { readInstallableProfile } from './device-simulator-profile.js';

export const LEGACY_TYPE = 'com.apple.configuration.legacy';

export interface LegacyDownload {
  identifier: string;
  url: string;
  status: number;
}

export class LegacyProfiles {
  /** Declaration identifier → the PayloadIdentifier of the profile it installed. */
  readonly installed = new Map<string, string>();
  /** Declaration identifier → why it could not be applied. */
  readonly failures = new Map<string, string>();
  /** Every download, in order. */
  readonly downloads: LegacyDownload[] = [];

  constructor(private readonly device: SimulatedDevice) {}

  /** Downloads and installs the declaration's profile (replacing what an earlier version of it installed). */
  async apply(identifier: string, payload: Record<string, unknown>): Promise<void> {
    this.failures.delete(identifier);
    const url = payload.ProfileURL;
    if (typeof url !== 'string' || !url.startsWith('https://')) {
      this.failures.set(identifier, 'ProfileURL is not an https URL');
      return;
    }
    const result = await this.device.http.request(url, { method: 'GET', headers: { accept: '*/*' } });
    this.downloads.push({ identifier, url, status: result.status });
    const type = String(result.headers['content-type'] ?? '');
    if (result.status !== 200 || !type.startsWith('application/x-apple-aspen-config')) {
      this.failures.set(identifier, `profile download answered ${result.status} (${type || 'no type'})`);
      return;
    }
    try {
      const profile = readInstallableProfile(result.body, 'declaration', this.device.state.identity);
      if (profile.payloads.some((p) => p.PayloadType === 'com.apple.mdm'))
        throw new Error('an MDM payload is not allowed');
      this.remove(identifier);
      this.device.state.profiles.set(profile.identifier, profile);
      this.installed.set(identifier, profile.identifier);
    } catch (error) {
      const message = error instanceof DeviceSimulatorError || error instanceof Error ? error.message : String(error);
      this.failures.set(identifier, `profile could not be installed: ${message}`);
    }
  }

  /** The declaration went away: its profile goes too. */
  remove(identifier: string): void {
    const profile = this.installed.get(identifier);
    if (profile) this.device.state.profiles.delete(profile);
    this.installed.delete(identifier);
    this.failures.delete(identifier);
  }

  reset(): void {
    for (const identifier of [...this.installed.keys()]) this.remove(identifier);
    this.failures.clear();
  }
}

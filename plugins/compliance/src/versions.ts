import { z } from 'zod';

/** "17", "17.5" or "17.5.1", as iOS reports OSVersion. */
export const osVersionSchema = z
  .string()
  .regex(/^\d{1,2}(\.\d{1,2}){0,2}$/, 'an OS version such as "17.5" or "17.4.1"');

/** The platforms a minimum applies to, named as Apple names the OS. */
export type CompliancePlatform = 'iOS' | 'iPadOS';

/** A number that orders versions, so MongoDB can find devices below a minimum: 17.4.1 → 170401. */
export function versionKey(version: string): number {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number);
  return major * 10_000 + minor * 100 + patch;
}

export function isOlder(version: string, minimum: string): boolean {
  return versionKey(version) < versionKey(minimum);
}

/** iPhone and iPod models run iOS, iPads iPadOS; ProductName is the hardware code ("iPhone15,4", "iPad13,1"). */
export function platformOf(productName: string | undefined): CompliancePlatform | undefined {
  if (!productName) return undefined;
  if (/^iPad/i.test(productName)) return 'iPadOS';
  if (/^(iPhone|iPod)/i.test(productName)) return 'iOS';
  return undefined;
}

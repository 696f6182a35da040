import type { DeclarativeStatusItem } from 'enrollment-gateway/sdk';
import type { DeviceFactsDoc } from './storage/compliance-records.js';
import { type CompliancePlatform, osVersionSchema, platformOf } from './versions.js';

/** The declarative status items compliance reads (the ddm plugin subscribes every device to them by default). */
export const DDM_OS_ITEMS = ['device.operating-system.version', 'device.model.family', 'device.model.identifier'];

const FAMILY_PLATFORM: Record<string, CompliancePlatform> = { iPhone: 'iOS', iPod: 'iOS', iPad: 'iPadOS' };

/** The OS version, platform and model a device last reported by declarative status (only valid values). */
export function ddmFacts(items: readonly DeclarativeStatusItem[]): {
  osVersion?: string;
  platform?: CompliancePlatform;
  productName?: string;
} {
  const value = (name: string) => items.find((i) => i.name === name)?.value;
  const version = osVersionSchema.safeParse(value('device.operating-system.version'));
  const family = value('device.model.family');
  const model = value('device.model.identifier');
  const productName = typeof model === 'string' && model.length <= 64 ? model : undefined;
  const platform = (typeof family === 'string' ? FAMILY_PLATFORM[family] : undefined) ?? platformOf(productName);
  return {
    ...(version.success ? { osVersion: version.data } : {}),
    ...(platform ? { platform } : {}),
    ...(productName ? { productName } : {}),
  };
}

/** Per device, the later report of the two channels; the platform and model fill in from the other. */
export function latestFacts(
  byCommand: readonly DeviceFactsDoc[],
  byDdm: readonly DeviceFactsDoc[],
): Map<string, DeviceFactsDoc> {
  const out = new Map<string, DeviceFactsDoc>(byCommand.map((doc) => [doc._id, doc]));
  for (const doc of byDdm) {
    const other = out.get(doc._id);
    const newer = !other || (doc.reportedAt?.getTime() ?? 0) >= (other.reportedAt?.getTime() ?? 0);
    const [first, second] = newer ? [doc, other] : [other, doc];
    out.set(doc._id, {
      ...first,
      platform: first.platform ?? second?.platform,
      productName: first.productName ?? second?.productName,
    });
  }
  return out;
}

import type { DeviceRecord, DeviceStatusItem } from 'enrollment-gateway/sdk';
import type { PropertyAttestationDoc, PropertyRecords } from '../storage/property-records.js';
import type { OrderRecords } from '../storage/records.js';

/**
 * "Device identity: hardware-bound, attested" for devices whose identity came from an attested ACME order, and
 * "Attested properties" for devices whose DevicePropertiesAttestation was verified (one query each).
 */
export async function attestedIdentityItems(
  orders: OrderRecords,
  properties: PropertyRecords,
  devices: readonly DeviceRecord[],
): Promise<Record<string, DeviceStatusItem[]>> {
  const byUdid = new Map(devices.map((device) => [device.udid, device.id]));
  const [finalized, attested] = await Promise.all([
    orders.finalizedByUdid([...byUdid.keys()]),
    properties.latest(devices.map((device) => device.id)),
  ]);
  const items: Record<string, DeviceStatusItem[]> = {};
  for (const fact of finalized) {
    const deviceId = fact.udid ? byUdid.get(fact.udid) : undefined;
    if (!deviceId || items[deviceId]) continue;
    items[deviceId] = [{ label: 'Device identity', value: 'Hardware-bound, attested (ACME)', tone: 'ok' }];
  }
  for (const [deviceId, doc] of attested) {
    items[deviceId] = [...(items[deviceId] ?? []), { label: 'Attested properties', value: describe(doc), tone: 'ok' }];
  }
  return items;
}

/** "OS 17.5 (sepOS 17.5), serial F2LXK3, attested since 2026-12-07" */
function describe(doc: PropertyAttestationDoc): string {
  const parts = [
    doc.osVersion ? `OS ${doc.osVersion}${doc.sepOsVersion ? ` (sepOS ${doc.sepOsVersion})` : ''}` : undefined,
    doc.serialNumber ? `serial ${doc.serialNumber}` : undefined,
    `attested since ${doc.attestedSince.toISOString().slice(0, 10)}`,
  ];
  return parts.filter(Boolean).join(', ');
}

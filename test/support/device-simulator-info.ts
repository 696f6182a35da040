/** Who the simulated device says it is (Authenticate, DeviceInformation). Defaults: an iPhone 15 on iOS 17.5. */
import { randomBytes, randomInt } from 'node:crypto';

export interface DeviceInfo {
  udid: string;
  serialNumber: string;
  deviceName: string;
  osVersion: string;
  buildVersion: string;
  /** Hardware model code, e.g. iPhone15,4 (iPhone 15). */
  productName: string;
  /** Marketing model, e.g. MTLE3. */
  model: string;
  modelName: string;
  modelNumber: string;
  imei?: string;
  deviceCapacityGb: number;
  availableCapacityGb: number;
  batteryLevel: number;
  passcodePresent: boolean;
  isSupervised: boolean;
}

export interface DeviceInfoOptions {
  udid?: string;
  serialNumber?: string;
  deviceName?: string;
  /** Default '17.5'. */
  osVersion?: string;
  buildVersion?: string;
  /** Hardware model code; default 'iPhone15,4' (iPhone 15). */
  productName?: string;
  /** Default 'MTLE3'. */
  model?: string;
  modelName?: string;
  modelNumber?: string;
  imei?: string;
  passcodePresent?: boolean;
}

const BUILD_VERSIONS: Record<string, string> = {
  '17.4': '21E219',
  '17.4.1': '21E236',
  '17.5': '21F79',
  '17.5.1': '21F90',
  '17.6': '21G80',
  '18.0': '22A3354',
};
const SERIAL_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';

function randomSerial(): string {
  return Array.from({ length: 10 }, () => SERIAL_ALPHABET[randomInt(SERIAL_ALPHABET.length)]).join('');
}

/** The device's facts: given values, else plausible random ones for an iPhone 15. */
export function defaultDeviceInfo(options: DeviceInfoOptions): DeviceInfo {
  const osVersion = options.osVersion ?? '17.5';
  const serialNumber = options.serialNumber ?? randomSerial();
  return {
    // Modern iPhone UDIDs are the chip ID (8120 = A16, iPhone 15), a dash and 16 hex digits.
    udid: options.udid ?? `00008120-${randomBytes(8).toString('hex').toUpperCase()}`,
    serialNumber,
    deviceName: options.deviceName ?? `iPhone ${serialNumber.slice(-4)}`,
    osVersion,
    buildVersion: options.buildVersion ?? BUILD_VERSIONS[osVersion] ?? '21F79',
    productName: options.productName ?? 'iPhone15,4',
    model: options.model ?? 'MTLE3',
    modelName: options.modelName ?? 'iPhone',
    modelNumber: options.modelNumber ?? `${options.model ?? 'MTLE3'}ZD/A`,
    imei: options.imei ?? `35${String(randomInt(1e12)).padStart(12, '0')}${randomInt(10)}`,
    deviceCapacityGb: 128,
    availableCapacityGb: 87.41,
    batteryLevel: 0.86,
    passcodePresent: options.passcodePresent ?? true,
    isSupervised: false,
  };
}

/**
 * Simulated iPhones and iPads for the preview: each enrolls through the real path (profile link → SCEP →
 * Authenticate → TokenUpdate) and then checks in every few seconds (polls and answers the commands it finds), until
 * stopped. "Simulate this device" on the portal's enrollment page goes through here too.
 */
import { SimulatedDevice } from '../../test/support/device-simulator.js';

export class PreviewFleet {
  readonly devices: SimulatedDevice[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly baseUrl: string,
    private readonly publicUrl: string,
  ) {}

  private async create(index: number): Promise<SimulatedDevice> {
    const models = [
      { productName: 'iPhone15,4', deviceName: 'iPhone 15' },
      { productName: 'iPhone16,2', deviceName: 'iPhone 15 Pro Max' },
      { productName: 'iPad14,1', deviceName: 'iPad mini' },
    ];
    const model = models[index % models.length];
    return SimulatedDevice.create({
      baseUrl: this.baseUrl,
      publicUrl: this.publicUrl,
      productName: model.productName,
      deviceName: `${model.deviceName} (demo ${index + 1})`,
    });
  }

  /** Enrolls one device with a profile link (an admin-minted one-time link). */
  async enrollWithLink(profileUrl: string): Promise<SimulatedDevice> {
    const device = await this.create(this.devices.length);
    await device.downloadProfile(profileUrl);
    return this.finish(device);
  }

  /** Enrolls one device with a profile's bytes (what the portal handed the browser). */
  async enrollWithProfile(bytes: Buffer, name: string): Promise<SimulatedDevice> {
    const device = await SimulatedDevice.create({
      baseUrl: this.baseUrl,
      publicUrl: this.publicUrl,
      productName: 'iPhone15,4',
      deviceName: name,
    });
    device.installProfileFile(bytes);
    return this.finish(device);
  }

  private async finish(device: SimulatedDevice): Promise<SimulatedDevice> {
    await device.enroll();
    await device.poll();
    this.devices.push(device);
    return device;
  }

  /** Every device checks in every `everyMs` (one round at a time; a failing device is reported, not fatal). */
  keepCheckingIn(everyMs: number, onError: (error: Error) => void, beforeRound?: () => Promise<void>): void {
    this.timer = setInterval(() => {
      if (this.polling) return;
      this.polling = true;
      (beforeRound?.() ?? Promise.resolve())
        .then(() => Promise.all(this.devices.map((d) => d.poll().catch(onError))))
        .finally(() => {
          this.polling = false;
        });
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

import { expect } from 'chai';
import { collectExtensions, deviceDirectoryRef, deviceStatusItemsPoint } from 'enrollment-gateway/sdk';
import { eventually, startPluginHarness } from 'enrollment-gateway/testing';
import storageCheck from './walkthrough/storage-check.js';

// docs/plugins.md, "Step 7: test it" — the same test a partner writes.
describe('docs/plugins.md walkthrough: the storage-check plugin', function () {
  this.timeout(60_000);

  it('asks enrolled devices for free storage and warns on the device page when it is low', async () => {
    const h = await startPluginHarness({
      plugins: [storageCheck],
      config: { plugins: { 'storage-check': { minimumFreeGb: 10 } } },
    });
    try {
      const { device, deviceId } = await h.enrollDevice();
      device.info.availableCapacityGb = 2.5;
      const answered = await device.poll();
      expect(answered.map((a) => a.requestType)).to.deep.equal(['DeviceInformation']);

      const report = await eventually(async () => {
        const res = await h.adminFetch(`/api/storage-check/devices/${deviceId}`);
        expect(res.status).to.equal(200);
        return (await res.json()) as { freeGb: number };
      });
      expect(report.freeGb).to.equal(2.5);

      const record = await h.context('mdm').resolve(deviceDirectoryRef).get(deviceId);
      const outcomes = await collectExtensions(h.context('storage-check'), deviceStatusItemsPoint, (c) =>
        c.statusFor([record!]),
      );
      expect(outcomes).to.deep.equal([
        {
          plugin: 'storage-check',
          value: {
            [deviceId]: [
              {
                label: 'Storage',
                value: '2.5 GB free',
                tone: 'warning',
                action: 'Free up space: keep at least 10 GB free',
              },
            ],
          },
        },
      ]);
      expect(await h.metrics()).to.include('gateway_storage_reports_total{plugin="storage-check"} 1');
    } finally {
      await h.stop();
    }
  });
});

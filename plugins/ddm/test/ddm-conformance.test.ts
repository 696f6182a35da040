import { expect } from 'chai';
import { declarationsPoint, definePlugin, legacyProfilesPoint } from 'enrollment-gateway/sdk';
import { type PluginHarness, startPluginHarness } from 'enrollment-gateway/testing';
import { build as buildPlist } from 'plist';
import { formatViolations, type SchemaContext, validateCheckin } from '../../../test/support/apple-schema.js';
import {
  validateDeclaration,
  validateDeclarativeProtocol,
  validateStatusItem,
  validateStatusReport,
} from '../../../test/support/apple-schema-declarative.js';
import { SimulatedDdm } from '../../../test/support/device-simulator-ddm.js';

const IOS17: SchemaContext = { os: 'iOS', osVersion: '17.4', enrollment: 'device', channel: 'device' };

/** A plain configuration profile (one com.apple.webClip.managed payload) the partner delivers by declaration. */
const legacyProfile = Buffer.from(
  buildPlist({
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: 'partner.clip',
    PayloadUUID: 'B7E5A8C2-4F1D-4E0A-9A51-3C1D2E4F5A6B',
    PayloadDisplayName: 'Partner',
    PayloadContent: [
      {
        PayloadType: 'com.apple.webClip.managed',
        PayloadVersion: 1,
        PayloadIdentifier: 'partner.clip.payload',
        PayloadUUID: 'C8F6B9D3-5A2E-4F1B-8B62-4D2E3F5A6B7C',
        URL: 'https://intranet.example.com/',
        Label: 'Intranet',
      },
    ],
  }),
);

/** A partner's asset, a configuration using it, and a legacy profile, through the SDK's points. */
const partner = definePlugin({
  name: 'ddm-conformance-partner',
  version: '1.0.0',
  coreApi: '^2.12.0',
  dependsOn: ['ddm'],
  register(api) {
    api.contribute(legacyProfilesPoint, () => ({
      identifier: 'partner.legacy-clip',
      profileFor: async () => legacyProfile,
    }));
    api.contribute(declarationsPoint, () => ({
      async declarationsFor() {
        return [
          {
            type: 'com.apple.asset.data',
            identifier: 'partner.echo-text',
            payload: {
              Reference: { DataURL: 'https://gateway.test/echo.txt', ContentType: 'text/plain', Size: 5 },
              Authentication: { Type: 'None' },
            },
          },
          {
            type: 'com.apple.configuration.management.test',
            identifier: 'partner.echo',
            payload: { Echo: 'hello', EchoDataAssetReference: 'partner.echo-text' },
          },
        ];
      },
    }));
  },
});

describe('ddm conformance: what the gateway serves and reads validates against Apple’s declarative schemas', function () {
  this.timeout(120_000);
  let h: PluginHarness;
  let ddm: SimulatedDdm;
  let deviceId: string;

  before(async () => {
    h = await startPluginHarness({ label: 'ddmconf', plugins: [partner], enable: ['ddm'] });
    const put = await h.adminFetch('/api/ddm/settings', {
      method: 'PUT',
      body: JSON.stringify({
        version: 0,
        osUpdates: [
          {
            id: 'ios-18',
            targetOSVersion: '18.1',
            targetBuildVersion: '22B83',
            deadline: '2030-01-15T09:00:00',
            detailsUrl: 'https://intranet.example.com/ios-18',
            assignment: { allDevices: true },
          },
        ],
        passcode: {
          requirePasscode: true,
          requireAlphanumericPasscode: true,
          minimumLength: 8,
          maximumFailedAttempts: 10,
          maximumInactivityInMinutes: 5,
          assignment: { allDevices: true },
        },
        managementProperties: { department: 'sales', tier: 2, pilot: true },
      }),
    });
    expect(put.status, await put.clone().text()).to.equal(200);
    const enrolled = await h.enrollDevice({ userId: 'alice', osVersion: '17.4' });
    deviceId = enrolled.deviceId;
    ddm = SimulatedDdm.attach(enrolled.device, { rejectTypes: ['com.apple.configuration.management.test'] });
    await enrolled.device.poll();
    while ((await ddm.advanceSoftwareUpdate()) !== 'none');
    await ddm.reportStatus(true);
  });
  after(() => h?.stop());

  it('every declaration the gateway served (built-in and contributed) conforms', () => {
    const types = new Set(ddm.fetched.map((d) => d.Type));
    expect([...types].sort()).to.deep.equal([
      'com.apple.activation.simple',
      'com.apple.asset.data',
      'com.apple.configuration.legacy',
      'com.apple.configuration.management.status-subscriptions',
      'com.apple.configuration.management.test',
      'com.apple.configuration.passcode.settings',
      'com.apple.configuration.softwareupdate.enforcement.specific',
      'com.apple.management.properties',
    ]);
    for (const declaration of ddm.fetched) {
      const violations = validateDeclaration(declaration, IOS17);
      expect(violations, `${declaration.Identifier}\n${formatViolations(violations)}`).to.deep.equal([]);
    }
    expect(ddm.legacy.installed.get('partner.legacy-clip'), 'the device installed it from ProfileURL').to.equal(
      'partner.clip',
    );
  });

  it('the tokens and declaration-items answers and the DeclarativeManagement check-ins conform', async () => {
    for (const endpoint of ['tokens', 'declaration-items'] as const) {
      const res = await ddm.device.sendCheckin({
        MessageType: 'DeclarativeManagement',
        UDID: ddm.device.udid,
        Endpoint: endpoint,
      });
      expect(res.status).to.equal(200);
      expect(String(res.headers['content-type'])).to.match(/^application\/json/);
      const kind = endpoint === 'tokens' ? 'TokensResponse' : 'DeclarationItemsResponse';
      const violations = validateDeclarativeProtocol(kind, JSON.parse(res.body.toString('utf8')), IOS17);
      expect(violations, formatViolations(violations)).to.deep.equal([]);
    }
    const sent = ddm.device.exchanges.filter((e) => e.request?.MessageType === 'DeclarativeManagement');
    expect(sent.length).to.be.greaterThan(5);
    for (const exchange of sent) {
      const violations = validateCheckin('DeclarativeManagement', exchange.request, IOS17);
      expect(violations, formatViolations(violations)).to.deep.equal([]);
    }
  });

  it('every status report the simulator sent conforms, through every software update state', () => {
    const states = ddm.reports.map(
      (r) => (r.StatusItems as { softwareupdate?: { 'install-state'?: string } }).softwareupdate?.['install-state'],
    );
    expect(states.filter(Boolean)).to.include.members(['downloading', 'prepared', 'installing', 'none']);
    for (const report of ddm.reports) {
      const violations = validateStatusReport(report, { ...IOS17, osVersion: '18.1' });
      expect(violations, formatViolations(violations)).to.deep.equal([]);
    }
  });

  it('every status item the gateway keeps conforms, including the refused declaration and its reason', async () => {
    const res = await h.adminFetch(`/api/ddm/devices/${deviceId}`);
    const view = (await res.json()) as { status: { name: string; value: unknown }[] };
    expect(view.status.map((s) => s.name)).to.include.members([
      'device.operating-system.version',
      'softwareupdate.install-state',
      'management.declarations',
      'passcode.is-compliant',
    ]);
    for (const item of view.status) {
      const violations = validateStatusItem(item.name, item.value, { ...IOS17, osVersion: '18.1' });
      expect(violations, `${item.name}\n${formatViolations(violations)}`).to.deep.equal([]);
    }
    const declarations = view.status.find((s) => s.name === 'management.declarations')?.value as {
      configurations: { identifier: string; valid: string }[];
    };
    expect(declarations.configurations.find((c) => c.identifier === 'partner.echo')?.valid).to.equal('invalid');
  });
});

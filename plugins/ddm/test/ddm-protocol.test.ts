import { expect } from 'chai';
import type { DeclarationTarget } from 'enrollment-gateway/sdk';
import { formatViolations } from '../../../test/support/apple-schema.js';
import { validateDeclaration, validateStatusItem } from '../../../test/support/apple-schema-declarative.js';
import { builtInDeclarations, contributedProblem, withActivation } from '../src/builtin-declarations.js';
import { declarationItemsResponse, declarationSet, parseEndpoint, serve } from '../src/protocol/declarations.js';
import { declarationStatuses, mergeItem, parseStatusReport } from '../src/protocol/status.js';
import { ddmSettingsSchema, defaultSettings } from '../src/settings.js';

const target: DeclarationTarget = {
  deviceId: 'd1',
  udid: 'U1',
  groups: ['g-sales'],
  profileId: 'p1',
  osVersion: '17.4',
};
const passcode = (minimumLength: number) => ({
  type: 'com.apple.configuration.passcode.settings',
  identifier: 'x.passcode',
  payload: { MinimumLength: minimumLength },
});
const asset = {
  type: 'com.apple.asset.data',
  identifier: 'x.asset',
  payload: { Reference: { DataURL: 'https://a/b' } },
};

describe('ddm protocol: tokens, manifests, endpoints, status reports (pure)', () => {
  it('the DeclarationsToken changes exactly when the set changes, whatever the order', () => {
    const a = declarationSet([passcode(6), asset]);
    expect(declarationSet([asset, passcode(6)]).token).to.equal(a.token);
    expect(declarationSet([passcode(8), asset]).token).to.not.equal(a.token);
    expect(declarationSet([passcode(6)]).token).to.not.equal(a.token);
    // Key order inside a payload is not content.
    const reordered = { ...asset, payload: { Reference: { DataURL: 'https://a/b' } } };
    expect(serve(reordered).ServerToken).to.equal(serve(asset).ServerToken);
  });

  it('the manifest lists each declaration under its kind', () => {
    const set = declarationSet([passcode(6), asset, ...builtInDeclarations(defaultSettings(), target)]);
    const items = declarationItemsResponse(set) as { Declarations: Record<string, { Identifier: string }[]> };
    expect(items.Declarations.Configurations.map((d) => d.Identifier)).to.include('x.passcode');
    expect(items.Declarations.Assets.map((d) => d.Identifier)).to.deep.equal(['x.asset']);
    expect(items.Declarations.Management.map((d) => d.Identifier)).to.deep.equal(['gateway.ddm.properties']);
    expect(items.Declarations.Activations.map((d) => d.Identifier)).to.deep.equal(['gateway.ddm.activation']);
  });

  it('parses the four endpoints and nothing else', () => {
    expect(parseEndpoint('tokens')).to.deep.equal({ kind: 'tokens' });
    expect(parseEndpoint('declaration/configuration/x.passcode')).to.deep.equal({
      kind: 'declaration',
      type: 'configuration',
      identifier: 'x.passcode',
    });
    for (const bad of ['', 'declaration/', 'declaration//x', 'status/1', 42, 'x'.repeat(600)])
      expect(parseEndpoint(bad), String(bad)).to.equal(undefined);
  });

  it('flattens nested status items by their dots and stops at dictionary items', () => {
    const report = parseStatusReport(
      Buffer.from(
        JSON.stringify({
          StatusItems: {
            device: { 'operating-system': { version: '17.4' } },
            softwareupdate: { 'pending-version': { 'os-version': '18.1', 'build-version': '22B83' } },
          },
          Errors: [],
        }),
      ),
    );
    expect([...report.items]).to.deep.equal([
      ['device.operating-system.version', '17.4'],
      ['softwareupdate.pending-version', { 'os-version': '18.1', 'build-version': '22B83' }],
    ]);
    expect(() => parseStatusReport(Buffer.from('{"StatusItems": 3}'))).to.throw(/StatusItems/);
    expect(() => parseStatusReport(Buffer.from('not json'))).to.throw(/not JSON/);
    expect(() => parseStatusReport(undefined)).to.throw(/Data/);
  });

  it('merges incremental management.declarations by identifier; a full report replaces', () => {
    const entry = (identifier: string, valid = 'valid') => ({ identifier, 'server-token': 't', active: true, valid });
    const previous = {
      activations: [entry('a')],
      configurations: [entry('c1'), entry('c2')],
      assets: [],
      management: [],
    };
    const incremental = { configurations: [entry('c2', 'invalid'), { identifier: 'c1', _removed: true }] };
    const merged = mergeItem('management.declarations', previous, incremental, false);
    expect(declarationStatuses(merged).map((d) => [d.identifier, d.valid])).to.deep.equal([
      ['a', 'valid'],
      ['c2', 'invalid'],
    ]);
    expect(mergeItem('management.declarations', previous, incremental, true)).to.equal(incremental);
  });

  it('merges incremental app lists (mdm.app, app.managed.list) by identifier; other arrays are replaced', () => {
    const previous = [
      { identifier: 'com.azure.authenticator', state: 'installing' },
      { identifier: 'com.example.old', state: 'managed' },
    ];
    const incremental = [
      { identifier: 'com.azure.authenticator', state: 'managed' },
      { identifier: 'com.example.old', _removed: true },
    ];
    for (const name of ['mdm.app', 'app.managed.list']) {
      expect(mergeItem(name, previous, incremental, false), name).to.deep.equal([
        { identifier: 'com.azure.authenticator', state: 'managed' },
      ]);
      expect(mergeItem(name, previous, [incremental[0]], false), name).to.deep.equal([incremental[0], previous[1]]);
      expect(mergeItem(name, previous, [incremental[0]], true), `${name}, full report`).to.deep.equal([incremental[0]]);
    }
    expect(mergeItem('security.certificate.list', previous, [incremental[0]], false)).to.deep.equal([incremental[0]]);
  });

  it('assigns OS updates and passcodes by group or enrollment profile; enforcement only from iOS 17', () => {
    const settings = ddmSettingsSchema.parse({
      osUpdates: [
        { id: 'other', targetOSVersion: '18.2', deadline: '2030-01-01T00:00:00', assignment: { groups: ['g-it'] } },
        { id: 'sales', targetOSVersion: '18.1', deadline: '2030-01-01T00:00:00', assignment: { groups: ['g-sales'] } },
      ],
      passcode: { minimumLength: 6, assignment: { profiles: ['p2'] } },
    });
    const types = (t: DeclarationTarget) => builtInDeclarations(settings, t).map((d) => d.type);
    const mine = builtInDeclarations(settings, target).find((d) => d.identifier === 'gateway.ddm.os-update');
    expect(mine?.payload.TargetOSVersion).to.equal('18.1');
    expect(types(target)).to.not.include('com.apple.configuration.passcode.settings');
    expect(types({ ...target, profileId: 'p2' })).to.include('com.apple.configuration.passcode.settings');
    expect(types({ ...target, osVersion: '16.7' })).to.not.include(
      'com.apple.configuration.softwareupdate.enforcement.specific',
    );
    expect(types({ ...target, osVersion: '15.8' })).to.not.include('com.apple.management.properties');
  });

  it('refuses invalid settings with the field named', () => {
    const bad = ddmSettingsSchema.safeParse({
      osUpdates: [
        { id: 'a', targetOSVersion: '18', deadline: '2030-13-01T00:00:00', assignment: {} },
        { id: 'a', targetOSVersion: '18.1', deadline: 'tomorrow', assignment: {} },
      ],
      managementProperties: { 'a.b': 'x' },
    });
    expect(bad.success).to.equal(false);
    const paths = bad.error?.issues.map((i) => i.path.join('.'));
    expect(paths).to.include.members([
      'osUpdates.0.targetOSVersion',
      'osUpdates.0.deadline',
      'osUpdates.1.deadline',
      'managementProperties.a.b',
    ]);
  });

  it('leaves out contributed declarations that are not declarations, and activates loose configurations', () => {
    expect(contributedProblem({ type: 'com.example.thing', identifier: 'x', payload: {} })).to.match(/type/);
    expect(contributedProblem({ ...asset, identifier: 'gateway.ddm.mine' })).to.match(/prefix/);
    expect(contributedProblem({ ...asset, identifier: 'x'.repeat(65) })).to.match(/identifier/);
    const activated = withActivation('partner', [passcode(6), asset]);
    expect(activated[0]).to.deep.include({ identifier: 'gateway.ddm.activation.partner' });
    expect(activated[0].payload).to.deep.equal({ StandardConfigurations: ['x.passcode'] });
  });

  it('the declarative validators find what is wrong (so the conformance tests can fail)', () => {
    const served = serve({ ...passcode(6), payload: { MinimumLength: 'six', Bogus: true } });
    const kinds = validateDeclaration(served).map((v) => `${v.path} ${v.kind}`);
    expect(kinds, formatViolations(validateDeclaration(served))).to.include.members([
      'Payload.MinimumLength wrong-type',
      'Payload.Bogus unknown-key',
    ]);
    expect(validateStatusItem('softwareupdate.install-state', 'exploding').map((v) => v.kind)).to.deep.equal([
      'not-in-rangelist',
    ]);
    expect(validateStatusItem('no.such-item', 1).map((v) => v.kind)).to.deep.equal(['unknown-schema']);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { startTestGateway } from 'enrollment-gateway/testing';
import webhooks from '../index.js';

/** Start-up refuses a bad endpoint with one line naming the plugin and the setting, before touching anything. */
async function startupError(endpoints: unknown[], env: Record<string, string> = {}): Promise<string> {
  try {
    const gw = await startTestGateway({
      label: 'whcfg',
      plugins: [webhooks],
      config: { plugins: { webhooks: { endpoints } } },
      env,
    });
    await gw.stop();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected start-up to fail');
}

describe('webhooks: endpoint settings are checked at start-up', () => {
  const secret = 'a-long-enough-secret-123';

  it('refuses plain http unless the endpoint allows it', async () => {
    expect(await startupError([{ name: 'siem', url: 'http://siem.example/hook', secret }])).to.equal(
      'plugin "webhooks": invalid config: "endpoints.0.url": must be https (or set allowHttp: true)',
    );
  });

  it('needs exactly one of secret and secretFile, and a secret file that exists', async () => {
    expect(await startupError([{ name: 'siem', url: 'https://siem.example/hook' }])).to.equal(
      'plugin "webhooks": invalid config: "endpoints.0.secret": set exactly one of secret and secretFile',
    );
    expect(
      await startupError([{ name: 'siem', url: 'https://siem.example/hook', secretFile: '/nonexistent/secret' }]),
    ).to.equal('plugin "webhooks": invalid config: "endpoints.0.secretFile": /nonexistent/secret does not exist');
  });

  it('refuses short secrets, duplicate names and unknown keys', async () => {
    expect(await startupError([{ name: 'siem', url: 'https://siem.example/hook', secret: 'short' }])).to.equal(
      'plugin "webhooks": invalid config: "endpoints.0.secret": at least 16 characters',
    );
    const twice = { name: 'siem', url: 'https://siem.example/hook', secret };
    expect(await startupError([twice, twice])).to.equal(
      'plugin "webhooks": invalid config: "endpoints.1.name": "siem" is used twice',
    );
    expect(await startupError([{ ...twice, retries: 3 }])).to.equal(
      'plugin "webhooks": invalid config: unknown setting "endpoints.0.retries"',
    );
  });

  it('takes the endpoint list from GATEWAY_PLUGINS__WEBHOOKS__ENDPOINTS as JSON', async () => {
    const message = await startupError([], {
      GATEWAY_PLUGINS__WEBHOOKS__ENDPOINTS: JSON.stringify([{ name: 'Bad Name', url: 'https://x.example', secret }]),
    });
    expect(message).to.match(/^plugin "webhooks": invalid config: "endpoints\.0\.name": lower-case letters/);
  });

  it('reads the whole endpoint list from GATEWAY_PLUGINS__WEBHOOKS__ENDPOINTS_FILE (Docker secrets)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'webhooks-list-'));
    try {
      const file = path.join(dir, 'endpoints.json');
      writeFileSync(file, JSON.stringify([{ name: 'siem', url: 'https://siem.example/hook', secret }]));
      const gw = await startTestGateway({
        label: 'whfile',
        plugins: [webhooks],
        env: { GATEWAY_PLUGINS__WEBHOOKS__ENDPOINTS_FILE: file },
      });
      try {
        const config = gw.gateway.context('webhooks').config as { endpoints: { name: string; secret: string }[] };
        expect(config.endpoints).to.deep.include({
          name: 'siem',
          url: 'https://siem.example/hook',
          secret,
          events: ['device.enrolled', 'device.checkedOut', 'device.unenrolled', 'command.result'],
        });
        const printed = gw.gateway.effectiveConfig() as { plugins: { webhooks: { endpoints: unknown } } };
        expect(printed.plugins.webhooks.endpoints, 'config print masks the list').to.deep.equal(['********']);
      } finally {
        await gw.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

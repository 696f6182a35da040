import { expect } from 'chai';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { redactTokenLikeSegments } from '../log-redaction.js';

describe('http: request logs never carry the secrets of enrollment links', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway({
      label: 'logredact',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
  });
  after(() => gw?.stop());

  const mintToken = async () => {
    const res = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'alice' }),
    });
    const { profileUrl } = (await res.json()) as { profileUrl: string };
    return new URL(profileUrl).pathname.split('/').pop() as string;
  };
  const requestLines = () => gw.logs.filter((line) => line.msg === 'request');

  it('a downloaded, a reused and a mistyped enrollment link are logged without their token', async () => {
    const token = await mintToken();
    const other = await mintToken();
    expect((await gw.fetch(`/mdm/enroll/${token}`)).status).to.equal(200);
    expect((await gw.fetch(`/mdm/enroll/${token}`)).status).to.be.within(400, 499);
    expect((await gw.fetch(`/mdm/enroll/${other}/extra?t=${other}`)).status).to.equal(404);
    expect((await gw.fetch(`/mdm/enroll/${other.slice(0, 12)}`)).status).to.equal(404);
    const text = JSON.stringify(gw.logs);
    expect(text).not.to.include(token);
    expect(text).not.to.include(other);
    expect(text).not.to.include(other.slice(0, 12));
    const paths = requestLines().map((line) => line.path);
    expect(paths).to.include('/mdm/enroll/[redacted]');
    expect(paths).to.include('/mdm/enroll/[redacted]/extra');
  });

  it('keeps the paths of routes without secrets as they are', async () => {
    await gw.fetch('/api/mdm/devices', { headers: adminHeaders() });
    expect(requestLines().map((line) => line.path)).to.include('/api/mdm/devices');
  });

  it('redacts token-like segments of unmatched paths only', () => {
    expect(redactTokenLikeSegments('/x/Zm9vYmFyYmF6cXV4MTIzNDU2/y')).to.equal('/x/[redacted]/y');
    expect(redactTokenLikeSegments('/admin/devices/settings')).to.equal('/admin/devices/settings');
  });
});

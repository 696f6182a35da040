import { expect } from 'chai';
import { reverseDnsIdentifier } from '../identifiers.js';

describe('SDK reverseDnsIdentifier: PayloadIdentifiers derived from the public URL', () => {
  const valid = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
  const cases: [string, string][] = [
    ['https://mdm.example.com', 'com.example.mdm.enrollment'],
    ['https://mdm.example.com:8443/base', 'com.example.mdm.enrollment'],
    ['https://localhost:8443', 'local.localhost.enrollment'],
    ['https://127.0.0.1', 'local.ip-127-0-0-1.enrollment'],
    ['https://10.20.30.40:8443', 'local.ip-10-20-30-40.enrollment'],
    ['https://[2001:db8::1]:8443', 'local.ip-2001-db8--1.enrollment'],
    ['https://[::1]', 'local.ip---1.enrollment'],
  ];
  for (const [url, expected] of cases) {
    it(`${url} → ${expected}`, () => {
      const identifier = reverseDnsIdentifier(url, 'enrollment');
      expect(identifier).to.equal(expected);
      expect(identifier).to.match(valid);
    });
  }

  it('never reverses an IP address into "1.0.0.127"', () => {
    expect(reverseDnsIdentifier('https://127.0.0.1', 'webclip')).not.to.include('1.0.0.127');
  });
});

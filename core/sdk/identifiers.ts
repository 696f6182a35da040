import { isIP } from 'node:net';

/**
 * A reverse-DNS identifier (PayloadIdentifier) derived from the gateway's public URL:
 * "https://mdm.example.com" → "com.example.mdm.<suffix>". A host that is an IP address is not a DNS name and is
 * not reversed: "https://127.0.0.1:8443" → "local.ip-127-0-0-1.<suffix>", "https://[2001:db8::1]" →
 * "local.ip-2001-db8--1.<suffix>"; a single-label host ("localhost") goes under "local".
 */
export function reverseDnsIdentifier(publicUrl: string, suffix: string): string {
  const hostname = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '');
  if (isIP(hostname)) return ['local', `ip-${hostname.replace(/[.:]/g, '-')}`, suffix].join('.');
  const parts = hostname
    .replace(/[^A-Za-z0-9.-]/g, '-')
    .split('.')
    .filter(Boolean)
    .reverse();
  return [...(parts.length > 1 ? parts : ['local', ...parts]), suffix].join('.');
}

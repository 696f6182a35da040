import { expect } from 'chai';
import type { DirectoryUser } from 'enrollment-gateway/sdk';
import { adminHeaders } from '../../../test/support/fixture-plugins.js';
import type { TestGateway } from '../../../test/support/gateway.js';

/*
 * Top-level await makes every test file importing this module load as ESM. Mocha otherwise
 * require()s .ts files through tsx's CJS hook, and the kernel (imported statically, CJS) and the
 * plugins it import()s (ESM) would hold two copies of the SDK: `instanceof ProblemError` fails in
 * the kernel and problem details are lost. (mdm's tests get this from plist-safe.ts.)
 */
await Promise.resolve();

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** One admin API call; the body is parsed JSON (problem+json included). */
export async function call<T = Record<string, unknown>>(
  gw: TestGateway,
  method: string,
  path: string,
  body?: unknown,
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const res = await gw.fetch(path, {
    method,
    headers: { ...adminHeaders(options.token), ...options.headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
}

export interface ProfileBody {
  id: string;
  name: string;
  description: string;
  enrollmentType: string;
  assignments: { allUsers: boolean; includedGroups: string[]; excludedGroups: string[] };
  priority: number;
  version: number;
  orderVersion?: number;
}

export async function createProfile(
  gw: TestGateway,
  profile: {
    name: string;
    enrollmentType?: 'web-based' | 'app-based';
    allUsers?: boolean;
    include?: string[];
    exclude?: string[];
    priority?: number;
  },
): Promise<ProfileBody> {
  const res = await call<ProfileBody>(gw, 'POST', '/api/enrollment-profiles', {
    name: profile.name,
    enrollmentType: profile.enrollmentType ?? 'web-based',
    assignments: {
      allUsers: profile.allUsers ?? false,
      includedGroups: profile.include ?? [],
      excludedGroups: profile.exclude ?? [],
    },
    ...(profile.priority ? { priority: profile.priority } : {}),
  });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body;
}

export const user = (id: string, groups: string[], enabled = true): DirectoryUser => ({
  id,
  upn: `${id}@example.com`,
  displayName: id,
  enabled,
  groups,
});

export const DAY = 86_400_000;
export const ago = (ms: number) => new Date(Date.now() - ms);

/** Real Safari/Chrome User-Agents. */
export const UA = {
  ios148:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 14_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.1.2 Mobile/15E148 Safari/604.1',
  ios150:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.0 Mobile/15E148 Safari/604.1',
  ios1741:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1',
  iosChrome:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1',
  ipadMobile:
    'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
  ipadDesktop17:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  ipadDesktop14:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.1 Safari/605.1.15',
  android:
    'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  windows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0',
  unknown: 'curl/8.5.0',
} as const;

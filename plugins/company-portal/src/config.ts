import { z } from 'zod';
import { LOCALES } from './strings.js';

const noControl = (value: string) => ![...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
const text = (max: number) =>
  z.string().trim().min(1).max(max).refine(noControl, 'must not contain control characters');

export const portalConfigSchema = z.object({
  organizationName: text(100)
    .optional()
    .describe('Deprecated: set organizationName at the top level (one name for every plugin); overrides it here'),
  brandColor: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, 'a colour like #0f6cbd')
    .default('#0f6cbd')
    .describe('Brand colour (#rrggbb) of the header, buttons and the Home Screen icon'),
  logoUrl: z
    .string()
    .refine((v) => /^\/[^/\\]/.test(v) || /^https:\/\/[^\s]+$/.test(v), 'an https URL or a path of this gateway')
    .optional()
    .describe('Logo shown next to the organisation name (https URL or gateway path); none by default'),
  supportName: text(100).default('IT support').describe('Who device users contact for help'),
  supportEmail: z.email().optional().describe('Support email address shown to device users'),
  supportPhone: text(40).optional().describe('Support phone number shown to device users'),
  supportUrl: z
    .url({ protocol: /^https$/ })
    .optional()
    .describe('Support website shown to device users'),
  companyPortalAppUrl: z
    .url({ protocol: /^https$/ })
    .default('https://apps.apple.com/app/intune-company-portal/id719171358')
    .describe('App Store link of the Company Portal app, for iOS 14 and app-based enrollment'),
  locale: z.enum(LOCALES).default('en').describe('Language of the portal (string catalogue)'),
  liveRefreshSeconds: z
    .number()
    .int()
    .min(1)
    .max(60)
    .default(3)
    .describe('Live pages re-read the state this often, besides the pushed updates'),
  liveStreamSeconds: z
    .number()
    .int()
    .min(10)
    .max(600)
    .default(55)
    .describe('A live update stream ends after this long; the browser reconnects (and the session is re-checked)'),
  liveStreamsPerUser: z
    .number()
    .int()
    .min(1)
    .max(50)
    .default(5)
    .describe('Live update streams one user may hold open at once (tabs), across replicas; more get 429'),
  previewSimulatePath: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]+$/, 'a path of this gateway, like /preview/simulate')
    .optional()
    .describe(
      'Preview only (npm run preview sets it): the Enroll page also offers "Simulate this device", posting to this path',
    ),
});

export type PortalConfig = z.output<typeof portalConfigSchema>;
/** The settings the pages use: the organisation name resolved (the core's, unless the deprecated key is set). */
export type PortalSettings = PortalConfig & { organizationName: string };

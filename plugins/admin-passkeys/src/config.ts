import { z } from 'zod';

export const passkeysConfigSchema = z.object({
  rpId: z
    .string()
    .min(1)
    .optional()
    .describe("WebAuthn relying-party id: the gateway's host name (default: the host of publicUrl)"),
  origins: z
    .array(z.url())
    .default([])
    .describe('Origins a passkey ceremony may come from besides the origin of publicUrl'),
  inviteHours: z.number().int().min(1).max(720).default(72).describe('How long an admin invite link stays valid'),
  sessionIdleMinutes: z.number().int().min(1).max(1440).default(60).describe('Sign an admin out after this long idle'),
  sessionAbsoluteHours: z
    .number()
    .int()
    .min(1)
    .max(720)
    .default(12)
    .describe('Sign an admin out this long after sign-in, whatever the activity'),
});

export type PasskeysConfig = z.output<typeof passkeysConfigSchema>;

/** The relying party as browsers see it: the id (a host name) and the origins ceremonies may come from. */
export interface RelyingParty {
  id: string;
  name: string;
  origins: string[];
  /** Cookies need https; a plain-http publicUrl is only accepted for a loopback host (local preview). */
  secure: boolean;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function relyingParty(config: PasskeysConfig, publicUrl: string, name: string): RelyingParty {
  const url = new URL(publicUrl);
  const secure = url.protocol === 'https:';
  if (!secure && !LOOPBACK.has(url.hostname)) {
    throw new Error(`admin-passkeys: publicUrl must be https (plain http only on localhost), got ${publicUrl}`);
  }
  return { id: config.rpId ?? url.hostname, name, origins: [url.origin, ...config.origins], secure };
}

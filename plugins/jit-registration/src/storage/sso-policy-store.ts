import { type StoredSettings, VersionedSettingsStore } from 'enrollment-gateway/sdk';
import type { Connection } from 'mongoose';
import { type SsoPolicy, ssoPolicySchema } from '../sso-policy.js';

export type StoredSsoPolicy = StoredSettings<SsoPolicy>;

/** The admin-editable SSO settings: one document, falling back to the config defaults until an admin saves. */
export function ssoPolicyStore(connection: Connection, defaults: () => SsoPolicy): SsoPolicyStore {
  return new VersionedSettingsStore<SsoPolicy>({
    connection,
    collection: 'jit_sso_policy',
    schema: ssoPolicySchema,
    defaults,
    staleDetail: 'the SSO policy changed since you read it; reload and try again',
  });
}

export type SsoPolicyStore = VersionedSettingsStore<SsoPolicy>;

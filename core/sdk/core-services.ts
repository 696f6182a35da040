import type { KeyVault } from './plugin.js';
import { createServiceRef } from './refs.js';

/** Services the kernel itself provides. */
export const coreServices = {
  keyVault: createServiceRef<KeyVault>('core.keyVault'),
} as const;

import { createServiceRef } from '../refs.js';

/**
 * Whether a freshly enrolled device is ready for Entra device registration ("just in time" registration):
 * the Authenticator app is managed and the SSO extension profile is installed. Provided by jit-registration.
 */
export type DeviceReadinessState = 'pending' | 'installing' | 'ready' | 'needs-attention';

export interface DeviceReadinessStep {
  /** 'install-app', 'install-sso-profile', 'confirm-app'. */
  name: string;
  state: 'queued' | 'acknowledged' | 'done' | 'failed';
  commandUuid?: string;
  /** Why a step failed, or what the device last reported. */
  detail?: string;
  updatedAt: Date;
}

export interface DeviceReadiness {
  deviceId: string;
  state: DeviceReadinessState;
  steps: DeviceReadinessStep[];
  updatedAt: Date;
}

export interface DeviceReadinessService {
  /** Undefined when the device never went through just-in-time registration. */
  get(deviceId: string): Promise<DeviceReadiness | undefined>;
}
export const deviceReadinessRef = createServiceRef<DeviceReadinessService>('jit.readiness');

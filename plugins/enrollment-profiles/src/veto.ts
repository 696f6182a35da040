import {
  DEVICE_LIMIT_MESSAGE,
  type EnrollmentPayloadContributor,
  type ProfileResolver,
  type UserDirectory,
  VetoError,
} from 'enrollment-gateway/sdk';
import { NO_PROFILE_MESSAGE } from './matching.js';
import { SETUP_INCOMPLETE_MESSAGE } from './resolver.js';

export const DISABLED_MESSAGE = 'Your account is disabled. Contact your IT support for help.';
export const UNKNOWN_USER_MESSAGE =
  "Your account wasn't found in your organization's directory. Contact your IT support.";

/**
 * Applies the portal's checks to every enrollment session, including links a helpdesk issues through
 * POST /api/mdm/enrollments. The platform is unknown there, so the OS is not checked.
 */
export function enrollmentVeto(
  plugin: string,
  resolver: ProfileResolver,
  users: () => UserDirectory | undefined,
): EnrollmentPayloadContributor {
  return {
    async payloads(request) {
      const directory = users();
      const user = directory ? await directory.get(request.userId) : undefined;
      if (directory && !user) throw new VetoError(plugin, UNKNOWN_USER_MESSAGE);
      if (user && !user.enabled) throw new VetoError(plugin, DISABLED_MESSAGE);
      const resolution = await resolver.resolve({ userId: request.userId, groups: user?.groups ?? [] });
      switch (resolution.outcome) {
        case 'no-profile':
          throw new VetoError(plugin, NO_PROFILE_MESSAGE);
        case 'device-limit':
          throw new VetoError(plugin, DEVICE_LIMIT_MESSAGE);
        case 'setup-incomplete':
          throw new VetoError(plugin, SETUP_INCOMPLETE_MESSAGE);
        default:
          return [];
      }
    },
  };
}

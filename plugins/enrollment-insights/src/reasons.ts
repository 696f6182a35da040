import type { EnrollmentFailureReason } from 'enrollment-gateway/sdk';

export interface ReasonText {
  /** Short label for tables and charts. */
  label: string;
  /** What an admin can do about it, in plain words. */
  remediation: string;
  /** What the device user is told on the portal's troubleshooting page. */
  user: string;
}

export const REASONS: Record<EnrollmentFailureReason, ReasonText> = {
  'device-limit': {
    label: 'Device limit reached',
    remediation:
      'The user already has as many devices as their device limit policy allows. Remove an old device (admin center or the portal’s My devices), or raise the limit for their group.',
    user: 'You already have the most devices your organisation allows. Remove a device you no longer use under My devices, then try again.',
  },
  'os-too-old': {
    label: 'OS too old',
    remediation:
      'The device runs iOS or iPadOS older than 15, which cannot enroll from the browser. Ask the user to update the device in Settings › General › Software Update.',
    user: 'Your device’s software is too old to enroll here. Update it in Settings › General › Software Update, then try again.',
  },
  'no-profile': {
    label: 'No profile assigned',
    remediation:
      'No enrollment profile is assigned to any group of this user. Add one of their groups to an enrollment profile’s assignments.',
    user: 'Your account is not set up for enrolling devices yet. Contact your IT support and ask them to give you access.',
  },
  vetoed: {
    label: 'Refused by a policy',
    remediation:
      'A plugin refused the enrollment (named in the failure). Check that plugin’s policy for this user or device, for example compliance rules.',
    user: 'A rule of your organisation stopped the enrollment. The message on the enrollment page says what to do; your IT support can help.',
  },
  'link-expired': {
    label: 'Download link expired',
    remediation:
      'The profile was downloaded after its link expired. Ask the user to start again in the portal and install the profile right away; raise the session lifetime if this happens often.',
    user: 'The download link expired before the profile was downloaded. Start again from the Enroll page and install the profile right away.',
  },
  'not-installed': {
    label: 'Profile not installed in time',
    remediation:
      'The profile was downloaded but not installed before the session expired. Ask the user to open Settings › Profile Downloaded and install it within the session, or to start again.',
    user: 'The downloaded profile was not installed in time. Start again from the Enroll page, then open Settings and tap Profile Downloaded to install it.',
  },
  'challenge-refused': {
    label: 'Challenge refused',
    remediation:
      'The device asked for its certificate with a challenge that was used, cancelled or expired (SCEP or ACME). Ask the user to remove the half-installed profile and start again.',
    user: 'Your device could not get its certificate because the download was too old. Remove the profile in Settings › General › VPN & Device Management, then start again.',
  },
  'identity-refused': {
    label: 'Identity refused',
    remediation:
      'The device’s identity was refused at Authenticate: the session was cancelled, the certificate revoked, or the device is managed for another user. Retire the old enrollment first, then let the user start again.',
    user: 'Your device could not be registered. It may still be registered to someone else. Contact your IT support.',
  },
  'authenticator-failed': {
    label: 'Authenticator install failed',
    remediation:
      'Microsoft Authenticator or the SSO profile could not be installed. Check the device’s App Store access and the jit-registration settings, then retry from the device page.',
    user: 'Microsoft Authenticator could not be installed. Make sure the device can reach the App Store, then contact your IT support.',
  },
  'user-cancelled': {
    label: 'Cancelled by the user',
    remediation:
      'The user downloaded the profile again, which cancels the earlier download. Nothing to do unless it repeats.',
    user: 'You started a new download, which replaced the earlier one. Install the newest profile.',
  },
};

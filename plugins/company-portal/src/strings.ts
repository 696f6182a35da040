import { DEVICE_LIMIT_MESSAGE } from 'enrollment-gateway/sdk';

/**
 * Every text the portal shows, in one catalogue per language. Placeholders are `{name}`; values are escaped
 * when rendered, so a translation never carries markup. To add a language, copy `en`, translate the values and
 * add it to `catalogues` (the type makes every key required).
 */
const en = {
  'app.title': '{org} Company Portal',
  'nav.home': 'Home',
  'nav.devices': 'My devices',
  'nav.help': 'Help',
  'nav.signOut': 'Sign out',
  'nav.skip': 'Skip to content',
  'nav.main': 'Main',
  'logo.alt': '{org} logo',

  'support.heading': 'Contact {name}',
  'support.email': 'Email',
  'support.phone': 'Phone',
  'support.web': 'Website',
  'support.none': 'Ask your IT department for help.',

  'signin.title': 'Sign in',
  'signin.lead': 'Sign in with your work or school account to set up this device for work.',
  'signin.button': 'Sign in',
  'signin.privacy': "You sign in on your organization's sign-in page. This portal never sees your password.",
  'signin.unavailable.title': 'Sign-in is not set up yet',
  'signin.unavailable.body':
    "Your organization hasn't finished setting up sign-in for this portal. Try again later or contact IT support.",

  'enroll.title': 'Set up this device for work',
  'enroll.lead': 'Install a management profile so you can use work apps and email on this {device}.',
  'enroll.what.heading': 'What happens',
  'enroll.what.1': 'You download a management profile from {org}.',
  'enroll.what.2': 'You install it in the Settings app. Your device then enrolls with {org}.',
  'enroll.what.3': '{org} installs Microsoft Authenticator and sets up single sign-on for work apps.',
  'enroll.privacy.heading': 'What {org} can and cannot see',
  'enroll.privacy.can': '{org} can see:',
  'enroll.privacy.can.1': 'Device model, serial number and iOS version',
  'enroll.privacy.can.2': 'Device name',
  'enroll.privacy.can.3': 'The apps and settings {org} installs, such as Microsoft Authenticator',
  'enroll.privacy.can.4': 'When the device last checked in',
  'enroll.privacy.cannot': '{org} cannot see:',
  'enroll.privacy.cannot.1': 'Your email, messages, contacts or calendar',
  'enroll.privacy.cannot.2': 'Your photos and files',
  'enroll.privacy.cannot.3': 'Your browsing history and passwords',
  'enroll.privacy.cannot.4': 'Your location',
  'enroll.privacy.cannot.5': 'The data in your personal apps',
  'enroll.privacy.erase': '{org} cannot erase your device. You can remove management at any time.',
  'enroll.download': 'Download management profile',
  'enroll.simulate': 'Simulate this device',
  'enroll.simulateNote': 'Preview only: a simulated iPhone installs the profile and enrolls, as this device would.',
  'enroll.downloadAgain': 'Download again',
  'enroll.pending': 'You downloaded a profile a moment ago.',
  'enroll.pendingLink': 'See its progress',
  'enroll.pendingNote': 'Downloading again cancels the earlier download: iOS keeps only one.',
  'enroll.refused.heading': "You can't enroll right now",
  'enroll.unavailable': 'The profile could not be prepared. Try again in a few minutes.',
  'enroll.steps.heading': 'Install the profile in Settings',
  'enroll.steps.deadline':
    'Install it within 8 minutes of downloading. After that, iOS deletes the downloaded profile and you need to download it again.',
  'enroll.steps.1': 'Open the Settings app and tap Profile Downloaded near the top.',
  'enroll.steps.1.alt': "If it isn't there, go to General > VPN & Device Management.",
  'enroll.steps.2': 'Under Downloaded Profile, tap the {org} Management profile.',
  'enroll.steps.3': 'Tap Install in the top-right corner and enter your device passcode.',
  'enroll.steps.4':
    'Tap Install again, then Trust to allow remote management, and Done. Come back to Safari to watch the progress.',
  'enroll.steps.figure': 'Step {n}',
  'enroll.homeScreen': 'Add this portal to your Home Screen',

  // The drawings of Settings (illustrations.ts), in the words iOS uses.
  'art.settings': 'Settings',
  'art.profileDownloaded': 'Profile Downloaded',
  'art.wifi': 'Wi-Fi',
  'art.general': 'General',
  'art.vpn': 'VPN & Device Management',
  'art.downloadedProfile': 'DOWNLOADED PROFILE',
  'art.management': '{org} Management',
  'art.installProfile': 'Install Profile',
  'art.install': 'Install',
  'art.verified': 'Verified ✓',
  'art.passcode': 'Enter your passcode when asked.',
  'art.remoteManagement': 'Remote Management',
  'art.trustQuestion.1': "Do you trust this profile's source",
  'art.trustQuestion.2': 'to enroll your iPhone into remote',
  'art.trustQuestion.3': 'management?',
  'art.cancel': 'Cancel',
  'art.trust': 'Trust',

  'status.title': 'Setting up your device',
  'status.progress': 'Progress',
  'status.step.downloaded': 'Profile downloaded',
  'status.step.enrolled': 'Profile installed and device enrolled',
  'status.step.authenticator': 'Microsoft Authenticator installing',
  'status.step.ready': 'Ready for work',
  'status.state.done': 'Done',
  'status.state.active': 'In progress',
  'status.state.waiting': 'Not yet',
  'status.state.failed': 'Needs attention',
  'status.headline.downloading': 'Downloading the management profile…',
  'status.headline.install': 'Now install the profile in Settings',
  'status.headline.enrolling': 'Enrolling your device…',
  'status.headline.installing': 'Installing work apps…',
  'status.headline.ready': 'Your device is ready for work',
  'status.headline.attention': 'Something needs your attention',
  'status.headline.expired': 'The profile was not installed in time',
  'status.headline.cancelled': 'This download was replaced',
  'status.headline.removed': 'This device was removed from management',
  'status.detail.downloading': "If the download didn't start, tap Download management profile.",
  'status.detail.install': 'Open Settings > General > VPN & Device Management and install it within 8 minutes.',
  'status.detail.enrolling': 'Keep the device online. This takes a few seconds.',
  'status.detail.installing':
    'Microsoft Authenticator is being installed. If the App Store asks, allow the installation.',
  'status.detail.ready': 'Open Microsoft Authenticator or any work app and sign in with your work account.',
  'status.detail.attention':
    'Microsoft Authenticator did not finish installing. Open the App Store to check for a waiting install, or contact IT support.',
  'status.detail.expired':
    'iOS deletes a downloaded profile after 8 minutes. Download it again and install it right away.',
  'status.detail.cancelled':
    'You downloaded the profile again, so this download can no longer be installed. iOS keeps only the newest one.',
  'status.download': 'Download management profile',
  'status.restart': 'Start again',
  'status.help': 'Having trouble? See troubleshooting',
  'status.devices': 'Go to My devices',

  'fallback.title': 'Use the Company Portal app',
  'fallback.oldOs':
    'This device runs iOS {version}. Enrolling in Safari needs iOS 15 or later, so use the Company Portal app instead, or update iOS first.',
  'fallback.appBased': '{org} sets up devices with the Company Portal app.',
  'fallback.steps.1': 'Install Company Portal from the App Store.',
  'fallback.steps.2': 'Open it and sign in with your work or school account.',
  'fallback.steps.3': 'Follow the steps in the app to enroll this device.',
  'fallback.button': 'Get Company Portal on the App Store',

  'unsupported.title': "This device can't be enrolled here",
  'unsupported.android':
    'This portal sets up iPhones and iPads. To use an Android device for work, ask IT support how your organization enrolls Android devices.',
  'unsupported.desktop':
    'This portal sets up iPhones and iPads. Open this page in Safari on the iPhone or iPad you want to use for work.',
  'unsupported.ipad':
    'On an iPad? Safari may be showing the desktop version of websites. Reload this page; if this message stays, tap the "aA" button and choose Request Mobile Website.',

  'limit.title': 'Device limit reached',
  'limit.body': DEVICE_LIMIT_MESSAGE,
  'limit.count': 'You have {active} of {limit} devices.',
  'limit.action': 'Go to My devices',

  'accountDriven.title': 'Enroll from Settings',
  'accountDriven.body':
    '{org} enrolls devices through your work account. On this iPhone or iPad, open Settings, tap General, then VPN & Device Management, tap Sign In to Work or School Account, and enter your work email address.',

  'noProfile.title': 'No enrollment profile for your account',
  'noProfile.body':
    "Your account isn't set up to enroll devices yet. Contact IT support and ask them to assign you an enrollment profile.",

  'setup.title': "Enrollment isn't available yet",
  'setup.body': 'Your organization is still setting up device enrollment. Try again later or contact IT support.',

  'help.title': 'Troubleshooting',
  'help.timeout.title': 'The profile was not installed within 8 minutes',
  'help.timeout.body':
    "iOS deletes a downloaded profile if it isn't installed within 8 minutes. Go back to the portal, download it again, and install it right away in Settings > General > VPN & Device Management.",
  'help.one.title': 'Only one downloaded profile waits at a time',
  'help.one.body':
    'iOS keeps only the newest downloaded profile. When you download again, the earlier download is cancelled and cannot be installed anymore. Always install the newest one.',
  'help.other.title': 'Another management profile is already installed',
  'help.other.body':
    'A device can be managed by only one organization. If Settings > General > VPN & Device Management already shows a management profile, remove it first (or ask whoever installed it), then try again.',
  'help.safari.title': 'Use Safari with cookies turned on',
  'help.safari.body':
    'Only Safari can hand the profile to Settings. In Settings > Apps > Safari, turn off Block All Cookies, close any private tab, and open this portal again in Safari.',
  'help.back': 'Back to the portal',
  'help.last.title': 'Your last enrollment attempt',
  'help.last.completed': 'It worked: your device is enrolled and ready for work.',
  'help.last.inProgress':
    'It is still going. Finish installing the profile in Settings, or start again from the Enroll page.',
  'help.last.when': 'Started {when}.',

  'homeScreen.title': 'Add the portal to your Home Screen',
  'homeScreen.lead': 'Open the portal from its own icon, like an app.',
  'homeScreen.steps.1': 'In Safari, tap the Share button.',
  'homeScreen.steps.2': 'Scroll down and tap Add to Home Screen.',
  'homeScreen.steps.3': 'Tap Add.',
  'homeScreen.note': 'After you enroll, {org} adds a Company Portal icon to your Home Screen for you.',

  'devices.title': 'My devices',
  'devices.lead': 'Devices you enrolled with your account.',
  'devices.empty': "You haven't enrolled any devices yet.",
  'devices.enroll': 'Enroll this device',
  'device.state.pending': 'Enrolling',
  'device.state.enrolled': 'Managed',
  'device.state.checked-out': 'Management profile removed on the device',
  'device.state.retiring': 'Being removed',
  'device.state.retired': 'Removed',
  'device.readiness.pending': 'Setting up work apps',
  'device.readiness.installing': 'Setting up work apps',
  'device.readiness.ready': 'Ready for work',
  'device.readiness.needs-attention': 'Needs attention',
  'device.fallbackName': 'iPhone or iPad',
  'device.details': 'Details',
  'device.state': 'State',
  'device.lastCheckIn': 'Last check-in',
  'device.never': 'Never',
  'device.model': 'Model',
  'device.os': 'iOS version',
  'device.serial': 'Serial number',
  'device.enrolledAt': 'Enrolled',
  'device.statusItems': 'Status',
  'device.rename.heading': 'Rename',
  'device.rename.label': 'Device name',
  'device.rename.button': 'Rename',
  'device.rename.saved': 'Name saved.',
  'device.rename.invalid': 'Enter a name of 1 to 60 characters.',
  'device.check.heading': 'Check status',
  'device.check.button': 'Check status',
  'device.check.lead': 'Ask the device to report its current state.',
  'device.check.waiting': 'Asked the device {ago}. Waiting for its answer…',
  'device.check.answered': 'The device answered {ago}.',
  'device.check.notNow': 'The device is busy (maybe locked) and will answer later.',
  'device.check.failed': 'The device could not answer the request.',
  'device.check.notManaged': 'Only a managed device can report its status.',
  'device.check.tooSoon':
    'The device has not answered the last check yet. Wait a minute for its answer before asking again.',
  'device.battery': 'Battery',
  'device.storage': 'Free storage',
  'device.storageValue': '{free} GB of {total} GB',
  'device.remove.heading': 'Remove device',
  'device.remove.lead': 'Stop managing this device and remove what {org} installed.',
  'device.remove.button': 'Remove device',

  'remove.title': 'Remove {name}?',
  'remove.erased.heading': 'What is removed',
  'remove.erased.1': 'The management profile and the device certificate',
  'remove.erased.2': 'Apps {org} installed, such as Microsoft Authenticator, and their data',
  'remove.erased.3': 'Settings {org} installed: single sign-on and the Company Portal Home Screen icon',
  'remove.erased.4': 'The keys this portal held for the device',
  'remove.kept.heading': 'What stays',
  'remove.kept.1': 'Your photos, messages, contacts and other personal data',
  'remove.kept.2': 'Apps you installed yourself',
  'remove.kept.3': 'Your device is not erased or reset',
  'remove.afterwards': 'Afterwards you cannot use work apps on this device. You can enroll it again later.',
  'remove.confirm': 'Remove device',
  'remove.cancel': 'Cancel',
  'remove.progress': 'Removal',
  'remove.state.in-progress': 'Removing the device… Keep it online.',
  'remove.state.completed': 'The device was removed from management.',
  'remove.state.device-unreachable':
    'The device did not answer. It is no longer managed; to finish, delete the management profile in Settings > General > VPN & Device Management.',
  'remove.step.remove-app': 'Remove app {id}',
  'remove.step.remove-profile': 'Remove profile {id}',
  'remove.step.remove-mdm-profile': 'Remove the management profile',
  'remove.step.revoke-certificates': 'Revoke the device certificates',
  'remove.step.erase-secrets': 'Erase the keys held for the device',
  'remove.step.cancel-queued-commands': 'Cancel waiting commands',
  'remove.stepState.pending': 'Waiting',
  'remove.stepState.running': 'In progress',
  'remove.stepState.done': 'Done',
  'remove.stepState.skipped': 'Skipped',
  'remove.stepState.failed': 'Failed',
  'remove.stepState.timed-out': 'No answer',
  'remove.unavailable': "Removing devices isn't available right now. Contact IT support.",

  'time.justNow': 'just now',
  'time.minutes': '{n} min ago',
  'time.hours': '{n} h ago',
  'time.days': '{n} days ago',

  'error.title': 'Something went wrong',
  'error.body': 'Try again in a moment.',
  'error.forbidden.title': 'Not your device',
  'error.forbidden.body': 'This device belongs to another account.',
  'error.notFound.title': 'Page not found',
  'error.notFound.body': "This page doesn't exist or is no longer available.",
  'error.csrf.title': 'Please try again',
  'error.csrf.body': "The form expired or didn't come from this portal. Go back, reload the page and try again.",
  'error.home': 'Go to the portal',
} as const;

export type StringKey = keyof typeof en;
export type Catalogue = Record<StringKey, string>;

const catalogues = { en } satisfies Record<string, Catalogue>;
export const LOCALES = Object.keys(catalogues) as [keyof typeof catalogues, ...(keyof typeof catalogues)[]];
export type Locale = keyof typeof catalogues;

export type Translate = (key: StringKey, values?: Record<string, string | number>) => string;

/** A translator for one language: `{name}` placeholders filled from `values`; unknown placeholders stay. */
export function translator(locale: Locale, defaults: Record<string, string> = {}): Translate {
  const catalogue: Catalogue = catalogues[locale];
  return (key, values = {}) =>
    catalogue[key].replace(/\{(\w+)\}/g, (whole, name: string) => {
      const value = values[name] ?? defaults[name];
      return value === undefined ? whole : String(value);
    });
}

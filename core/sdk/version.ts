/** Version of the plugin API; plugins declare the semver range they support in `coreApi`. */
export const CORE_API_VERSION = '1.0.0';

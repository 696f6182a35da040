import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../sdk/errors.js';
import { type CoreConfig, coreConfigSchema } from './schema.js';
import {
  ENV_PREFIX,
  envNameFor,
  formatIssue,
  getPath,
  listLeaves,
  parseEnvValue,
  type SettingLeaf,
  setPath,
} from './tree.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Well-known variables accepted besides the GATEWAY_* names. */
const envAliases: Record<string, string[]> = {
  MONGODB_URI: ['mongodb', 'uri'],
  REDIS_URL: ['redis', 'url'],
};

function readConfigFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  const text = readFileSync(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (error) {
    throw new ConfigError(
      `config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  if (parsed == null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError(`config file ${file} must hold a mapping`);
  return parsed as Record<string, unknown>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] =
      isPlainObject(value) && isPlainObject(out[key]) ? deepMerge(out[key] as Record<string, unknown>, value) : value;
  }
  return out;
}

/**
 * Config in layers: config/default.yaml < the optional file (GATEWAY_CONFIG_FILE) < environment variables.
 * Plugin sections stay raw here; each plugin's schema validates its own section once the plugin is loaded.
 */
export class ConfigSource {
  readonly layered: Record<string, unknown>;
  private readonly env: Env;
  private readonly consumedEnv = new Set<string>();

  constructor(options: { appRoot: string; env: Env; overrides?: Record<string, unknown> }) {
    this.env = options.env;
    const defaultsFile = path.join(options.appRoot, 'config', 'default.yaml');
    let layered = existsSync(defaultsFile) ? readConfigFile(defaultsFile) : {};
    const extraFile = options.env.GATEWAY_CONFIG_FILE;
    this.consumedEnv.add('GATEWAY_CONFIG_FILE');
    if (extraFile) layered = deepMerge(layered, readConfigFile(path.resolve(extraFile)));
    if (options.overrides) layered = deepMerge(layered, options.overrides);
    this.layered = layered;
  }

  /** NAME, or the contents of the file NAME_FILE names (Docker secrets convention). */
  private envValue(name: string): string | undefined {
    this.consumedEnv.add(name);
    this.consumedEnv.add(`${name}_FILE`);
    const file = this.env[`${name}_FILE`];
    if (file) {
      if (!existsSync(file)) throw new ConfigError(`${name}_FILE names ${file}, which does not exist`);
      return readFileSync(file, 'utf8').trim();
    }
    return this.env[name];
  }

  private applyEnv(target: Record<string, unknown>, leaves: SettingLeaf[], prefix: string[] = []): void {
    for (const leaf of leaves) {
      const value = this.envValue(leaf.envName);
      if (value !== undefined && value !== '')
        setPath(target, leaf.path.slice(prefix.length), parseEnvValue(leaf, value));
    }
  }

  core(): CoreConfig {
    const raw = structuredClone({ ...this.layered, plugins: this.layered.plugins ?? {} });
    for (const [alias, target] of Object.entries(envAliases)) {
      const value = this.envValue(alias);
      if (value) setPath(raw, target, value);
    }
    this.applyEnv(raw, listLeaves(coreConfigSchema));
    for (const name of this.pluginNamesFromEnv()) {
      const enabled = this.env[envNameFor(['plugins', name, 'enabled'])];
      if (enabled !== undefined) setPath(raw, ['plugins', name, 'enabled'], enabled === 'true' || enabled === '1');
    }
    const result = coreConfigSchema.safeParse(raw);
    if (!result.success) throw new ConfigError(`invalid config: ${formatIssue(result.error.issues[0])}`);
    return result.data;
  }

  /** Plugin names mentioned by GATEWAY_PLUGINS__<NAME>__ENABLED, lower-case with dashes. */
  private pluginNamesFromEnv(): string[] {
    const names: string[] = [];
    for (const key of Object.keys(this.env)) {
      const match = /^GATEWAY_PLUGINS__([A-Z0-9_]+)__ENABLED$/.exec(key);
      if (match) names.push(match[1].toLowerCase().replace(/_/g, '-'));
    }
    return names;
  }

  /** Validates one plugin's section against its schema; unknown keys are refused. */
  plugin(name: string, schema: z.ZodType | undefined, section: Record<string, unknown>): unknown {
    const { enabled: _enabled, ...rest } = section;
    const raw = structuredClone(rest);
    const objectSchema = schema ?? z.object({});
    const leaves = listLeaves(objectSchema, ['plugins', name]);
    this.applyEnv(raw, leaves, ['plugins', name]);
    const strict = objectSchema instanceof z.ZodObject ? objectSchema.strict() : objectSchema;
    const result = strict.safeParse(raw);
    if (!result.success)
      throw new ConfigError(`plugin "${name}": invalid config: ${formatIssue(result.error.issues[0])}`);
    return result.data;
  }

  /** Any GATEWAY_* variable no schema knows is a typo; refuse it rather than ignore it. */
  assertNoUnknownEnv(): void {
    for (const key of Object.keys(this.env)) {
      if (!key.startsWith(ENV_PREFIX) || this.consumedEnv.has(key)) continue;
      if (/^GATEWAY_PLUGINS__[A-Z0-9_]+__ENABLED$/.test(key)) continue;
      throw new ConfigError(`unknown setting ${key} in the environment`);
    }
  }
}

export const SECRET_MASK = '********';

/** The effective config with every secret value replaced by a mask, for `gateway config print`. */
export function maskSecrets(config: Record<string, unknown>, leaves: SettingLeaf[]): Record<string, unknown> {
  const out = structuredClone(config);
  for (const leaf of leaves) {
    if (!leaf.secret) continue;
    const value = getPath(out, leaf.path);
    if (value === undefined || value === null) continue;
    setPath(out, leaf.path, Array.isArray(value) ? value.map(() => SECRET_MASK) : SECRET_MASK);
  }
  return out;
}

import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PluginLoadError } from '../sdk/errors.js';
import type { PluginDefinition } from '../sdk/plugin.js';

export interface DiscoveredPlugin {
  definition: PluginDefinition;
  /** Where it came from, for messages: "plugins/mdm", "npm:@acme/x" or "inline". */
  source: string;
}

/** Built-in plugins sit next to core/, in source (plugins/) and in the build (dist/plugins/). */
export const builtInPluginsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../plugins');

export function listBuiltInPlugins(dir = builtInPluginsDir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entryFile(path.join(dir, entry.name)) !== undefined)
    .map((entry) => entry.name)
    .sort();
}

function entryFile(dir: string): string | undefined {
  for (const file of ['index.js', 'index.ts']) {
    const candidate = path.join(dir, file);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function importOrExplain(file: string, plugin: string): Promise<Record<string, unknown>> {
  try {
    return await import(pathToFileURL(file).href);
  } catch (error) {
    const first = String((error as Error).message ?? error).split('\n')[0];
    throw new PluginLoadError(plugin, `cannot be imported: ${first}`);
  }
}

function asDefinition(module: Record<string, unknown>, source: string): PluginDefinition {
  const candidate = (module.default ?? module.plugin) as PluginDefinition | undefined;
  if (!candidate || typeof candidate !== 'object' || typeof candidate.register !== 'function') {
    throw new PluginLoadError(source, 'does not export a plugin definition (export default definePlugin({...}))');
  }
  return candidate;
}

export async function importBuiltIn(name: string, dir = builtInPluginsDir): Promise<DiscoveredPlugin> {
  const file = entryFile(path.join(dir, name));
  if (!file) throw new PluginLoadError(name, `not found in ${path.relative(process.cwd(), dir) || dir}/`);
  const source = `plugins/${name}`;
  const definition = asDefinition(await importOrExplain(file, name), name);
  if (definition.name !== name) {
    throw new PluginLoadError(
      name,
      `${source} declares the name "${definition.name}"; the folder and the name must match`,
    );
  }
  return { definition, source };
}

/** npm plugins resolve from `resolveFrom` (the app root by default), like any dependency. */
export async function importPackage(packageName: string, resolveFrom: string): Promise<DiscoveredPlugin> {
  let resolved: string;
  try {
    resolved = createRequire(path.join(resolveFrom, 'package.json')).resolve(packageName);
  } catch {
    throw new PluginLoadError(packageName, `npm package "${packageName}" is not installed`);
  }
  const definition = asDefinition(await importOrExplain(resolved, packageName), packageName);
  return { definition, source: `npm:${packageName}` };
}

import semver from 'semver';
import { PluginLoadError } from '../sdk/errors.js';
import type { PluginDefinition } from '../sdk/plugin.js';
import type { DiscoveredPlugin } from './discover.js';

const namePattern = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * Checks the whole set before anything starts and returns it in start order
 * (dependencies first). Every failure names the plugin and the problem in one line.
 */
export function checkAndOrder(plugins: readonly DiscoveredPlugin[], coreApiVersion: string): PluginDefinition[] {
  const byName = new Map<string, DiscoveredPlugin>();
  for (const plugin of plugins) {
    const { definition, source } = plugin;
    if (typeof definition.name !== 'string' || !namePattern.test(definition.name)) {
      throw new PluginLoadError(
        String(definition.name),
        `${source}: name must be lower-case letters, digits and dashes`,
      );
    }
    const seen = byName.get(definition.name);
    if (seen) throw new PluginLoadError(definition.name, `defined twice (${seen.source} and ${source})`);
    byName.set(definition.name, plugin);
    if (!semver.valid(definition.version)) {
      throw new PluginLoadError(definition.name, `version "${definition.version}" is not semver`);
    }
    if (definition.coreApi === undefined) {
      throw new PluginLoadError(
        definition.name,
        `coreApi is missing: declare the core API range it supports, e.g. "^${semver.major(coreApiVersion)}.${semver.minor(coreApiVersion)}.0"`,
      );
    }
    if (typeof definition.coreApi !== 'string' || !semver.validRange(definition.coreApi)) {
      throw new PluginLoadError(definition.name, `coreApi "${definition.coreApi}" is not a semver range`);
    }
    if (!semver.satisfies(coreApiVersion, definition.coreApi)) {
      throw new PluginLoadError(
        definition.name,
        `supports core API ${definition.coreApi}, but this gateway provides ${coreApiVersion}; ${remedy(definition.coreApi, coreApiVersion)}`,
      );
    }
  }
  for (const { definition } of plugins) {
    for (const dependency of definition.dependsOn ?? []) {
      if (!byName.has(dependency)) {
        throw new PluginLoadError(definition.name, `depends on "${dependency}", which is not installed or not enabled`);
      }
    }
  }
  return topologicalOrder(
    plugins.map((p) => p.definition),
    byName,
  );
}

/** Which side to upgrade: the range wants a newer kernel, or the plugin was built for an older major. */
function remedy(range: string, coreApiVersion: string): string {
  const lowest = semver.minVersion(range);
  return lowest && semver.gt(lowest, coreApiVersion)
    ? 'upgrade the gateway'
    : 'install a version of the plugin built for this core API';
}

function topologicalOrder(
  definitions: readonly PluginDefinition[],
  byName: ReadonlyMap<string, DiscoveredPlugin>,
): PluginDefinition[] {
  const ordered: PluginDefinition[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (definition: PluginDefinition, trail: string[]) => {
    const mark = state.get(definition.name);
    if (mark === 'done') return;
    if (mark === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(definition.name)), definition.name];
      throw new PluginLoadError(definition.name, `dependency cycle ${cycle.join(' -> ')}`);
    }
    state.set(definition.name, 'visiting');
    const dependencies = [...(definition.dependsOn ?? []), ...(definition.optionalDependsOn ?? [])];
    for (const dependency of [...dependencies].sort()) {
      const found = byName.get(dependency);
      if (found) visit(found.definition, [...trail, definition.name]);
    }
    state.set(definition.name, 'done');
    ordered.push(definition);
  };
  for (const definition of [...definitions].sort((a, b) => a.name.localeCompare(b.name))) visit(definition, []);
  return ordered;
}

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';

export interface BoundaryViolation {
  file: string;
  specifier: string;
  rule: string;
}

const importPattern =
  /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    if (entry === 'node_modules' || entry.startsWith('.')) return [];
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.(ts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts') ? [full] : [];
  });
}

export function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(importPattern)].map((m) => m[1] ?? m[2] ?? m[3]);
}

const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(specifier);

/**
 * Plugins import only the SDK, their own files and npm packages (their tests may also use the
 * shared harness in test/support, or its public face enrollment-gateway/testing); core never imports plugins;
 * the SDK never reaches into core internals. Applies to built-in and partner plugins alike.
 */
export function findBoundaryViolations(root: string, packageName = 'enrollment-gateway'): BoundaryViolation[] {
  const violations: BoundaryViolation[] = [];
  const pluginsDir = path.join(root, 'plugins');
  const harnessDir = path.join(root, 'test', 'support');
  for (const file of sourceFiles(pluginsDir)) {
    const pluginRoot = path.join(pluginsDir, path.relative(pluginsDir, file).split(path.sep)[0]);
    const isTest = file.startsWith(path.join(pluginRoot, 'test') + path.sep);
    for (const specifier of importsOf(file)) {
      const rel = path.relative(root, file);
      if (specifier.startsWith('.')) {
        const target = path.resolve(path.dirname(file), specifier);
        const inHarness = isTest && target.startsWith(harnessDir + path.sep);
        if (target !== pluginRoot && !target.startsWith(pluginRoot + path.sep) && !inHarness) {
          violations.push({ file: rel, specifier, rule: 'a plugin may only import its own files by relative path' });
        }
      } else if (specifier === packageName || specifier.startsWith(`${packageName}/`)) {
        const allowed = specifier === `${packageName}/sdk` || (isTest && specifier === `${packageName}/testing`);
        if (!allowed)
          violations.push({
            file: rel,
            specifier,
            rule: `only ${packageName}/sdk is public (and ${packageName}/testing in tests)`,
          });
      } else if (specifier.startsWith('/') || specifier.startsWith('#')) {
        violations.push({ file: rel, specifier, rule: 'absolute and subpath imports are not allowed in plugins' });
      } else if (!isBuiltin(specifier) && /^(core|plugins|test)\//.test(specifier)) {
        violations.push({ file: rel, specifier, rule: 'a plugin may not import gateway internals' });
      }
    }
  }
  const coreDir = path.join(root, 'core');
  const sdkDir = path.join(coreDir, 'sdk');
  for (const file of sourceFiles(coreDir)) {
    const rel = path.relative(root, file);
    for (const specifier of importsOf(file)) {
      if (!specifier.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), specifier);
      if (target.startsWith(pluginsDir + path.sep))
        violations.push({ file: rel, specifier, rule: 'core may not import plugins' });
      if (file.startsWith(sdkDir + path.sep) && !target.startsWith(sdkDir + path.sep)) {
        violations.push({ file: rel, specifier, rule: 'the SDK may not import core internals' });
      }
    }
  }
  return violations;
}

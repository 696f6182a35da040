/**
 * `npm run bench -- NAME [options]`: runs scripts/bench/NAME.ts. Each benchmark prints what it
 * measured and, as its last line, one JSON object with the figures.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = path.join(import.meta.dirname, 'bench');
const available = readdirSync(dir)
  .filter((file) => file.endsWith('.ts') && !file.startsWith('_'))
  .map((file) => file.replace(/\.ts$/, ''));
const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [options]`);
  process.exit(2);
}
const module = (await import(pathToFileURL(path.join(dir, `${name}.ts`)).href)) as {
  run(args: string[]): Promise<Record<string, unknown>>;
};
const figures = await module.run(args);
console.log(JSON.stringify({ bench: name, ...figures }));
process.exit(0);

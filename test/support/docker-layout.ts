/**
 * Lays out a Docker build without a Docker engine: the build context as `.dockerignore` leaves it (matched by
 * @balena/dockerignore, which follows Docker's own rules), then each stage's files as its COPY lines leave them,
 * with the stage's RUN commands run in the stage's working directory. Container paths map into one folder per
 * stage (`/app` of stage "build" is `<root>/build/app`).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
// The package sets `factory.default = factory`: reached through `.default` under NodeNext's CommonJS interop.
import dockerignoreModule from '@balena/dockerignore';

const dockerignore = dockerignoreModule.default;

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  name: string;
  instructions: Instruction[];
}

/** Parses the subset of Dockerfile syntax used here: comments, line continuations, `FROM image AS name`. */
export function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const name = args.match(/\bAS\s+(\S+)/i)?.[1] ?? String(stages.length);
      stages.push({ name, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`Dockerfile: ${keyword} before FROM`);
      stages[stages.length - 1].instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** Every file path (relative, `/`-separated) Docker would send as the build context. */
export function listBuildContext(contextDir: string): string[] {
  const ignoreFile = path.join(contextDir, '.dockerignore');
  const patterns = existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '';
  const matcher = dockerignore({ ignorecase: false }).add(patterns);
  // A negated pattern can bring back a file under an ignored folder; only without one may a walk skip folders.
  const canPrune = !patterns.split(/\r?\n/).some((line) => line.trim().startsWith('!'));
  const files: string[] = [];
  const walk = (relative: string) => {
    for (const entry of readdirSync(path.join(contextDir, relative), { withFileTypes: true })) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!(canPrune && matcher.ignores(child))) walk(child);
      } else if (!matcher.ignores(child)) {
        files.push(child);
      }
    }
  };
  walk('');
  return files.sort();
}

/** Copies the context's files into `target`, keeping their relative paths. */
export function materializeContext(contextDir: string, target: string): string[] {
  const files = listBuildContext(contextDir);
  for (const file of files) {
    mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
    cpSync(path.join(contextDir, file), path.join(target, file), { verbatimSymlinks: true });
  }
  return files;
}

export interface LayoutOptions {
  /** The materialized build context. */
  context: string;
  /** One folder per stage is made under it. */
  root: string;
  env: Record<string, string | undefined>;
  /** Decides for each RUN whether it runs here or is left to the image (recorded in `skipped`). */
  run?: (stage: string, command: string) => 'run' | 'skip';
}

export interface StageLayout {
  /** Folder standing for the stage's filesystem root. */
  rootfs: string;
  workdir: string;
  env: Record<string, string>;
  ran: string[];
  skipped: string[];
}

/** Applies WORKDIR, ENV, COPY and RUN of each stage in order; other instructions only describe the image. */
export function layOutStages(stages: readonly Stage[], options: LayoutOptions): Map<string, StageLayout> {
  const done = new Map<string, StageLayout>();
  for (const stage of stages) {
    const rootfs = path.join(options.root, stage.name);
    const layout: StageLayout = { rootfs, workdir: '/', env: {}, ran: [], skipped: [] };
    const inside = (containerPath: string) => path.join(rootfs, path.posix.resolve(layout.workdir, containerPath));
    for (const { keyword, args } of stage.instructions) {
      if (keyword === 'WORKDIR') {
        layout.workdir = path.posix.resolve(layout.workdir, args);
        mkdirSync(inside('.'), { recursive: true });
      } else if (keyword === 'ENV') {
        for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) layout.env[key] = value;
      } else if (keyword === 'COPY') {
        copy(args, done, options.context, inside);
      } else if (keyword === 'RUN') {
        if (options.run?.(stage.name, args) === 'skip') {
          layout.skipped.push(args);
          continue;
        }
        execFileSync('sh', ['-c', args], {
          cwd: inside('.'),
          env: { ...options.env, ...layout.env },
          stdio: ['ignore', 'pipe', 'pipe'],
          maxBuffer: 64 * 1024 * 1024,
        });
        layout.ran.push(args);
      }
    }
    done.set(stage.name, layout);
  }
  return done;
}

function copy(
  args: string,
  done: Map<string, StageLayout>,
  context: string,
  inside: (containerPath: string) => string,
): void {
  const words = args.split(/\s+/);
  const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((word) => !word.startsWith('--'));
  const dest = paths.pop();
  if (!dest || paths.length === 0) throw new Error(`COPY needs a source and a destination: ${args}`);
  const source = from ? done.get(from) : undefined;
  if (from && !source) throw new Error(`COPY --from=${from}: no such earlier stage`);
  for (const src of paths) {
    const origin = source ? path.join(source.rootfs, path.posix.resolve(source.workdir, src)) : path.join(context, src);
    if (!existsSync(origin)) {
      throw new Error(`COPY ${src}: not in ${source ? `stage ${from}` : 'the build context'}`);
    }
    const intoDir = dest.endsWith('/') || paths.length > 1 || statSync(origin).isDirectory();
    const target =
      intoDir && !statSync(origin).isDirectory() ? path.join(inside(dest), path.basename(src)) : inside(dest);
    mkdirSync(path.dirname(target), { recursive: true });
    cpSync(origin, target, { recursive: true, verbatimSymlinks: true });
  }
}

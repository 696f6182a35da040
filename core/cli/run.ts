import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Env } from '../config/load.js';
import { type Gateway, loadGateway } from '../gateway.js';
import { GatewayError } from '../sdk/errors.js';
import type { CliIO, Role } from '../sdk/plugin.js';
import { dbUsage, runDbCommand } from './db.js';
import { renderEnvExample } from './env-example.js';

const roles: readonly Role[] = ['serve', 'work', 'all'];

const usage = `usage: gateway <command>
  serve                  run the HTTP server (portal, MDM endpoints, admin API)
  work                   run the BullMQ workers
  all                    run both in one process (small installs)
  config print           show the effective config, secrets masked
  config env-example     print a .env.example listing every setting
  plugins                list the enabled plugins
  preview                the whole product locally with demo users and devices (source checkout: npm run preview)
${dbUsage}
  <plugin command>       commands added by plugins (listed by "gateway help")`;

const consoleIO: CliIO = { out: (line) => console.log(line), err: (line) => console.error(line) };

/** Expected failures print one line; only unexpected ones carry a stack trace. */
function describeFailure(error: unknown): string {
  if (GatewayError.is(error)) return error.message;
  return (error as Error)?.stack ?? String(error);
}

export async function runCli(args: readonly string[], env: Env, io: CliIO = consoleIO): Promise<number> {
  const [command = 'help', ...rest] = args;
  try {
    if (roles.includes(command as Role)) return await runRole(command as Role, env, io);
    if (command === 'preview') return await runPreview(rest, io);
    if (command === 'help' || command === '--help') {
      io.out(usage);
      const gateway = await loadGateway({ role: 'cli', env });
      for (const { plugin, command: c } of gateway.commands())
        io.out(`  ${c.name.padEnd(22)} ${c.description} [${plugin}]`);
      return 0;
    }
    if (command === 'config' && rest[0] === 'env-example') {
      const gateway = await loadGateway({ role: 'cli', env });
      io.out(await renderEnvExample(gateway));
      return 0;
    }
    const gateway = await loadGateway({ role: 'cli', env });
    if (command === 'db') return await runDbCommand(rest, gateway.config, io);
    if (command === 'config' && rest[0] === 'print') {
      io.out(JSON.stringify(gateway.effectiveConfig(), null, 2));
      return 0;
    }
    if (command === 'plugins') {
      for (const p of gateway.plugins)
        io.out(`${p.definition.name}@${p.definition.version}  ${p.definition.description ?? ''}`);
      return 0;
    }
    return await runPluginCommand(gateway, args, io);
  } catch (error) {
    io.err(`gateway: ${describeFailure(error)}`);
    return 1;
  }
}

/**
 * `gateway preview` runs scripts/preview.ts of a source checkout: the preview uses the test stand-ins (a local
 * sign-in provider, simulated devices), which the built package does not ship.
 */
async function runPreview(args: readonly string[], io: CliIO): Promise<number> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const script = path.join(root, 'scripts', 'preview.ts');
  if (!existsSync(script)) {
    io.err('gateway: the preview needs a source checkout (git clone …, npm ci, npm run preview)');
    return 2;
  }
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  process.on('SIGINT', () => child.kill('SIGINT'));
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

async function runPluginCommand(gateway: Gateway, args: readonly string[], io: CliIO): Promise<number> {
  const match = gateway
    .commands()
    .filter(({ command }) => {
      const words = command.name.split(' ');
      return words.every((word, i) => args[i] === word);
    })
    .sort((a, b) => b.command.name.length - a.command.name.length)[0];
  if (!match) {
    io.err(`gateway: unknown command "${args.join(' ')}"\n${usage}`);
    return 2;
  }
  // Only the command's plugin and its dependencies start; the CLI role runs no HTTP server and no workers.
  await gateway.start({ only: [match.plugin] });
  try {
    const code = await match.command.run(
      args.slice(match.command.name.split(' ').length),
      gateway.context(match.plugin),
      io,
    );
    return typeof code === 'number' ? code : 0;
  } finally {
    await gateway.stop();
  }
}

async function runRole(role: Role, env: Env, io: CliIO): Promise<number> {
  const gateway = await loadGateway({ role, env });
  await gateway.start();
  return serveUntilSignal(gateway, io);
}

/** Runs until SIGTERM or SIGINT, then drains and stops; resolves with the exit code. */
export function serveUntilSignal(gateway: Gateway, io: CliIO = consoleIO): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      gateway.logger.info({ signal }, 'shutting down');
      gateway.stop().then(
        () => resolve(0),
        (error: unknown) => {
          io.err(`gateway: shutdown failed: ${describeFailure(error)}`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

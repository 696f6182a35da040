import { parseArgs } from 'node:util';
import {
  type AuditEntry,
  type AuditLog,
  type CliCommand,
  type PluginContext,
  ValidationProblem,
} from 'enrollment-gateway/sdk';
import type { ApiKeyStore, ApiKeySummary } from './api-keys.js';

const cliActor: AuditEntry['actor'] = { id: 'cli', kind: 'system', displayName: 'gateway CLI' };

function describe(key: ApiKeySummary): string {
  return [
    key.id,
    key.status,
    `name=${JSON.stringify(key.name)}`,
    `scopes=${key.scopes.join(',')}`,
    `prefix=${key.prefix}`,
    `created=${key.createdAt}`,
    `by=${key.createdBy}`,
    `expires=${key.expiresAt ?? 'never'}`,
    `lastUsed=${key.lastUsedAt ?? 'never'}`,
  ].join('  ');
}

/** `gateway admin create-api-key | revoke-api-key | list-api-keys`. */
export function apiKeyCommands<C>(
  deps: (ctx: PluginContext<C>) => { store: ApiKeyStore; audit: AuditLog },
): CliCommand<C>[] {
  return [
    {
      name: 'admin create-api-key',
      description:
        'create a scoped admin API key: --name <n> --scopes a,b [--expires-days N] [--json]; prints only the key (once)',
      async run(args, ctx, io) {
        const { values } = parseArgs({
          args: [...args],
          options: {
            name: { type: 'string' },
            scopes: { type: 'string' },
            'expires-days': { type: 'string' },
            json: { type: 'boolean' },
          },
          strict: true,
          allowPositionals: false,
        });
        if (!values.name || !values.scopes) {
          io.err('usage: gateway admin create-api-key --name <name> --scopes <a,b> [--expires-days N] [--json]');
          return 2;
        }
        const expiresDays = values['expires-days'];
        if (expiresDays !== undefined && !/^\d+$/.test(expiresDays)) {
          throw new ValidationProblem('--expires-days must be a whole number of days');
        }
        const { store, audit } = deps(ctx);
        const { key, summary } = await store.create({
          name: values.name,
          scopes: values.scopes
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          expiresInDays: expiresDays === undefined ? undefined : Number(expiresDays),
          createdBy: cliActor.id,
        });
        await audit.record({
          actor: cliActor,
          action: 'api-key.created',
          target: { type: 'api-key', id: summary.id },
          after: summary,
        });
        // stdout carries only what a script captures (KEY=$(gateway admin create-api-key …)); the rest is for people.
        if (values.json) io.out(JSON.stringify({ ...summary, key }));
        else io.out(key);
        io.err(`created API key ${summary.id}; store it now: it is not shown again`);
        return 0;
      },
    },
    {
      name: 'admin revoke-api-key',
      description: 'revoke an admin API key by id',
      async run(args, ctx, io) {
        if (args.length !== 1) {
          io.err('usage: gateway admin revoke-api-key <id>');
          return 2;
        }
        const { store, audit } = deps(ctx);
        const change = await store.revoke(args[0]);
        if (!change) {
          io.err(`gateway: no API key with id "${args[0]}"`);
          return 1;
        }
        await audit.record({
          actor: cliActor,
          action: 'api-key.revoked',
          target: { type: 'api-key', id: args[0] },
          ...change,
        });
        io.out(`revoked ${args[0]}`);
        return 0;
      },
    },
    {
      name: 'admin list-api-keys',
      description: 'list admin API keys (never their secrets) [--json]',
      async run(args, ctx, io) {
        const keys = await deps(ctx).store.list();
        if (args.includes('--json')) io.out(JSON.stringify(keys));
        else for (const key of keys) io.out(describe(key));
        return 0;
      },
    },
  ];
}

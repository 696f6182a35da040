import { parseArgs } from 'node:util';
import type { AuditEntry, AuditLog, CliCommand, PluginContext } from 'enrollment-gateway/sdk';
import { adminRoles, type PasskeyService } from './passkeys.js';
import type { AdminRole } from './storage/passkey-storage.js';

const cliActor: AuditEntry['actor'] = { id: 'cli', kind: 'system', displayName: 'gateway CLI' };
const isRole = (value: string): value is AdminRole => (adminRoles as readonly string[]).includes(value);

/** `gateway admin invite | admins | revoke`. */
export function adminCommands<C>(
  deps: (ctx: PluginContext<C>) => { passkeys: PasskeyService; audit: AuditLog | undefined },
): CliCommand<C>[] {
  return [
    {
      name: 'admin invite',
      description:
        'invite an admin: EMAIL [--role read-only|full] (default full); prints a one-time link to register a passkey',
      async run(args, ctx, io) {
        const { values, positionals } = parseArgs({
          args: [...args],
          options: { role: { type: 'string', default: 'full' }, json: { type: 'boolean' } },
          strict: true,
          allowPositionals: true,
        });
        if (positionals.length !== 1 || !isRole(values.role)) {
          io.err('usage: gateway admin invite EMAIL [--role read-only|full] [--json]');
          return 2;
        }
        const { passkeys, audit } = deps(ctx);
        const { link, invite } = await passkeys.invite({ email: positionals[0], role: values.role, createdBy: 'cli' });
        await audit?.record({
          actor: cliActor,
          action: 'admin.invited',
          target: { type: 'admin-invite', id: invite.id },
          after: invite,
        });
        // stdout is only the link, for scripts; the rest goes to stderr.
        io.out(values.json ? JSON.stringify({ link, ...invite }) : link);
        io.err(
          `invited ${invite.email} (${invite.role}); the link works once, until ${invite.expiresAt.toISOString()}`,
        );
        return 0;
      },
    },
    {
      name: 'admin admins',
      description: 'list the local (passkey) administrators [--json]',
      async run(args, ctx, io) {
        const admins = await deps(ctx).passkeys.list();
        if (args.includes('--json')) io.out(JSON.stringify(admins));
        else
          for (const a of admins)
            io.out(`${a.id}  ${a.email}  ${a.role}  ${a.revokedAt ? `revoked ${a.revokedAt}` : 'active'}`);
        return 0;
      },
    },
    {
      name: 'admin revoke',
      description: 'revoke a local administrator: EMAIL or id (signs them out at once)',
      async run(args, ctx, io) {
        if (args.length !== 1) {
          io.err('usage: gateway admin revoke EMAIL|ID');
          return 2;
        }
        const { passkeys, audit } = deps(ctx);
        const revoked = await passkeys.revoke(args[0], 'cli');
        if (revoked.length === 0) {
          io.err(`gateway: no active administrator "${args[0]}"`);
          return 1;
        }
        for (const admin of revoked) {
          await audit?.record({
            actor: cliActor,
            action: 'admin.revoked',
            target: { type: 'admin', id: admin.id },
            after: admin,
          });
          io.out(`revoked ${admin.email} (${admin.id})`);
        }
        return 0;
      },
    },
  ];
}

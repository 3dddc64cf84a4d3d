/** `gatehouse grants list`: the grant catalog (it lives in code) and which system roles hold each grant. */
import type { Command } from 'commander';
import { GRANTS, SYSTEM_ROLES } from '../services/grants.js';
import type { CliIo } from './io.js';
import { emit, writeTable } from './output.js';

export function registerGrants(program: Command, io: CliIo): void {
  const grants = program.command('grants').description('the grants roles can hold');
  grants
    .command('list')
    .description('list every grant with its display name, description and the system roles that hold it')
    .option('--json', 'print {items} as JSON')
    .action((opts: { json?: boolean }) => {
      const items = GRANTS.map((g) => ({
        id: g.id,
        name: g.name,
        description: g.description,
        systemRoles: SYSTEM_ROLES.filter((r) => (r.grants as readonly string[]).includes(g.id)).map(
          (r) => r.name,
        ),
      }));
      emit(io.stdout, opts.json, { items }, () =>
        writeTable(io.stdout, items, {
          ID: (g) => g.id,
          NAME: (g) => g.name,
          'SYSTEM ROLES': (g) => g.systemRoles,
          DESCRIPTION: (g) => g.description,
        }),
      );
    });
}

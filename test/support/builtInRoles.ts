import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RoleDefinition } from '../../shared/domain/access';
import { fixturesDir } from './fixtures';

export interface BuiltInRole {
  roleName: string;
  id: string;
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

/** The Key Vault crypto built-in roles as the vendored docs extract lists them (one `## <role>` section each). */
export function keyVaultBuiltInRoles(): BuiltInRole[] {
  const text = readFileSync(join(fixturesDir, 'authorization-builtin-roles', 'key-vault-crypto-roles-extract.md'), 'utf8');
  return text.split(/^## /m).slice(1).map((section) => {
    const [title = '', ...lines] = section.split('\n');
    const list = (field: string): string[] => {
      const start = lines.findIndex((l) => l.startsWith(`- ${field}:`));
      if (start < 0) throw new Error(`${title}: no ${field}`);
      const items: string[] = [];
      for (const line of lines.slice(start + 1)) {
        const item = /^ {2}- `([^`]+)`$/.exec(line);
        if (!item) break;
        items.push(item[1] ?? '');
      }
      return items;
    };
    const id = /^- id: `([0-9a-f-]{36})`$/m.exec(section)?.[1];
    if (!id) throw new Error(`${title}: no id`);
    return { roleName: title.trim(), id, actions: list('actions'), notActions: list('notActions'), dataActions: list('dataActions'), notDataActions: list('notDataActions') };
  });
}

/** A built-in role as the access proof reads it (its tenant-form id). */
export function asDefinition(role: BuiltInRole): RoleDefinition {
  return {
    id: `/providers/Microsoft.Authorization/roleDefinitions/${role.id}`,
    roleName: role.roleName,
    permissions: [{ dataActions: role.dataActions, notDataActions: role.notDataActions }],
  };
}

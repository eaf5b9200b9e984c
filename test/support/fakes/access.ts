import type { GrantsView } from '../../../shared/domain/access';
import type { VaultInfo } from '../../../shared/domain/model';
import { vaultHost } from '../../../shared/domain/keys';
import type { GrantTarget, RoleGrantReader, VaultDirectory } from '../../../shared/ports';
import { accessPolicyVault } from './estate';

/** Vaults by host; VAULT grants principal 'p' (boundAccount's identity) by default. Counts fresh reads. */
export class FakeVaultDirectory implements VaultDirectory {
  readonly vaults = new Map<string, VaultInfo>();
  reads = 0;
  constructor(...vaults: VaultInfo[]) {
    for (const v of vaults.length ? vaults : [accessPolicyVault()]) this.put(v);
  }
  put(vault: VaultInfo): this {
    this.vaults.set(vaultHost(vault.vaultUri), structuredClone(vault));
    return this;
  }
  async findVault(vaultUri: string): Promise<VaultInfo | undefined> {
    const v = this.vaults.get(vaultHost(vaultUri));
    return v && structuredClone(v);
  }
  async readVault(vaultUri: string, _options?: { fresh?: boolean }): Promise<VaultInfo | undefined> {
    this.reads += 1;
    return this.findVault(vaultUri);
  }
}

/** Role grants by principal id; a principal not set has none. Records what was asked. */
export class FakeRoleGrants implements RoleGrantReader {
  readonly views = new Map<string, GrantsView>();
  readonly asked: Array<{ target: GrantTarget; principalId: string }> = [];
  async read(target: GrantTarget, principalId: string): Promise<GrantsView> {
    this.asked.push({ target, principalId });
    return structuredClone(this.views.get(principalId) ?? { status: 'read', assignments: [], definitions: [] });
  }
}

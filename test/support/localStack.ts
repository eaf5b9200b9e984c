import { accountArmId, accountResource, grantKeyAccess, principalOf } from '../../dev/estate';
import type { KeyVaultStandIn, SeedKeyOptions } from '../../dev/keyVaultStandIn';
import type { LocalStack } from '../../dev/stack';
import type { AccountState } from '../../shared/domain/model';

/** A key with version v1 (no event: it predates the test) and accounts bound to it. */
export async function boundScenario(
  stack: LocalStack,
  vault: KeyVaultStandIn,
  keyName: string,
  accountNames: string[],
  v1: SeedKeyOptions = {},
): Promise<{ v1: string; ids: string[] }> {
  const { version } = await vault.createKey(keyName, { kty: 'RSA', size: 2048, publish: false, createdOn: new Date(Date.now() - 86_400_000), ...v1 });
  for (const name of accountNames) {
    stack.arm.putAccount(accountResource({ name, key: { vaultUri: vault.vaultUri, name: keyName, version } }));
  }
  // The rebind preflight reads the vault's access policies through ARM.
  grantKeyAccess(stack.arm, vault, accountNames.map(principalOf));
  return { v1: version, ids: accountNames.map((n) => accountArmId(n)) };
}

export async function readAccounts(stack: LocalStack, ids: string[]): Promise<Array<AccountState | undefined>> {
  return Promise.all(ids.map((id) => stack.services.accounts.getAccount(id)));
}

export function versionsOf(accounts: Array<AccountState | undefined>): Array<string | undefined> {
  return accounts.map((a) => a?.binding?.keyVersion);
}

export async function postEvents(stack: LocalStack, body: unknown, eventType = 'Notification'): Promise<Response> {
  return fetch(stack.host.eventGridWebhook('keyVaultEvents'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'aeg-event-type': eventType },
    body: JSON.stringify(body),
  });
}

/** Calls the dev host's HTTP API with the function key (unless `key` says otherwise). */
export async function api(
  stack: LocalStack,
  method: string,
  path: string,
  body?: unknown,
  options: { key?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const key = options.key === undefined ? stack.host.functionKey : options.key;
  const response = await fetch(`${stack.host.url}${path}`, {
    method,
    headers: { ...(key ? { 'x-functions-key': key } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...options.headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
}

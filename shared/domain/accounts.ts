import type { AccountRef } from './model';

// A subscription is a GUID; a resource group is up to 90 letters, digits, _ - . ( ) and not ending in a dot; an account
// name (ARM's pattern) 1-64 letters, digits, _ - . starting with a letter or digit. ARM refuses anything else with a
// 400 of its own, which would reach a caller as a dependency's failure instead of their bad field.
const ACCOUNT_ID =
  /^\/subscriptions\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/resourceGroups\/([-\w.()\p{L}\p{N}]{0,89}[-\w()\p{L}\p{N}])\/providers\/Microsoft\.CognitiveServices\/accounts\/([a-z0-9][\w.-]{0,63})$/iu;

/** Parses a Microsoft.CognitiveServices/accounts ARM id; undefined when it is anything else. */
export function parseAccountId(id: string): AccountRef | undefined {
  const m = ACCOUNT_ID.exec(id.trim());
  if (!m || !m[1] || !m[2] || !m[3]) return undefined;
  return { id: id.trim(), subscriptionId: m[1], resourceGroup: m[2], name: m[3] };
}

/** Table key for an account: subscription~resourceGroup~account, lower case (no / \ # ? allowed in keys). */
export function accountKey(id: string): string {
  const ref = parseAccountId(id);
  if (!ref) throw new Error(`not a Microsoft.CognitiveServices/accounts resource id: ${id}`);
  return `${ref.subscriptionId}~${ref.resourceGroup}~${ref.name}`.toLowerCase();
}

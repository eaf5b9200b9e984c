import type { AccountRef } from './model';

const ACCOUNT_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.CognitiveServices\/accounts\/([^/]+)$/i;

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

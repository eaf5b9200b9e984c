import type { AccountRef } from './model';

// Any Microsoft.CognitiveServices/accounts id: what Azure answers is read as it comes (an id it issued is never
// dropped for a character this project did not foresee).
const ACCOUNT_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.CognitiveServices\/accounts\/([^/]+)$/i;

// What a caller may name, by ARM's own rules: ARM refuses anything else with a 400 of its own, which would reach the
// caller as a dependency's failure instead of their bad field. A subscription is a GUID; a resource group 1-90 of
// .NET's word characters (letters, combining marks, decimal digits, connector punctuation) and - . ( ), not ending
// in a dot; an account name 1-64 letters, digits, _ - . starting with a letter or digit.
const GROUP_CHAR = String.raw`-\p{L}\p{Mn}\p{Nd}\p{Pc}.()`;
const ARM_ACCOUNT_ID = new RegExp(
  String.raw`^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
  + String.raw`/resourceGroups/[${GROUP_CHAR}]{0,89}[${GROUP_CHAR.replace('.', '')}]`
  + String.raw`/providers/Microsoft\.CognitiveServices/accounts/[a-z0-9][\w.-]{0,63}$`, 'iu');

/** Parses a Microsoft.CognitiveServices/accounts ARM id; undefined when it is anything else. */
export function parseAccountId(id: string): AccountRef | undefined {
  const m = ACCOUNT_ID.exec(id.trim());
  if (!m || !m[1] || !m[2] || !m[3]) return undefined;
  return { id: id.trim(), subscriptionId: m[1], resourceGroup: m[2], name: m[3] };
}

/** An account id a caller may send: one ARM would take (see ARM_ACCOUNT_ID). */
export function isArmAccountId(id: string): boolean {
  return ARM_ACCOUNT_ID.test(id.trim());
}

/** Table key for an account: subscription~resourceGroup~account, lower case (no / \ # ? allowed in keys). */
export function accountKey(id: string): string {
  const ref = parseAccountId(id);
  if (!ref) throw new Error(`not a Microsoft.CognitiveServices/accounts resource id: ${id}`);
  return `${ref.subscriptionId}~${ref.resourceGroup}~${ref.name}`.toLowerCase();
}

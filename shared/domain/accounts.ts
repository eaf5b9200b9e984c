import type { AccountRef } from './model';

// Any Microsoft.CognitiveServices/accounts id: what Azure answers is read as it comes (an id it issued is never
// dropped for a character this project did not foresee).
const ACCOUNT_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.CognitiveServices\/accounts\/([^/]+)$/i;

// What a caller may name, by ARM's own rules: ARM refuses anything else with a 400 of its own, which would reach the
// caller as a dependency's failure instead of their bad field. A subscription is a GUID; a resource group 1-90 of
// .NET's word characters (letters, combining marks, decimal digits, connector punctuation) and - . ( ), not ending
// in a dot; an account name 1-64 ASCII letters, digits, _ - . starting with a letter or digit. Case is ignored in
// ASCII only (no u flag: under /iu, ſ would pass for s and the Kelvin sign for k); the group is checked apart.
const ARM_ACCOUNT_ID =
  /^\/subscriptions\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/resourceGroups\/([^/]{1,90})\/providers\/Microsoft\.CognitiveServices\/accounts\/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/i;
const ARM_GROUP = /^[-\p{L}\p{Mn}\p{Nd}\p{Pc}.()]*[-\p{L}\p{Mn}\p{Nd}\p{Pc}()]$/u;

/** Parses a Microsoft.CognitiveServices/accounts ARM id; undefined when it is anything else. */
export function parseAccountId(id: string): AccountRef | undefined {
  const m = ACCOUNT_ID.exec(id.trim());
  if (!m || !m[1] || !m[2] || !m[3]) return undefined;
  return { id: id.trim(), subscriptionId: m[1], resourceGroup: m[2], name: m[3] };
}

/** An account id a caller may send: one ARM would take (see ARM_ACCOUNT_ID). */
export function isArmAccountId(id: string): boolean {
  const group = ARM_ACCOUNT_ID.exec(id.trim())?.[1];
  return group !== undefined && ARM_GROUP.test(group);
}

/** Table key for an account: subscription~resourceGroup~account, lower case (no / \ # ? allowed in keys). */
export function accountKey(id: string): string {
  const ref = parseAccountId(id);
  if (!ref) throw new Error(`not a Microsoft.CognitiveServices/accounts resource id: ${id}`);
  return `${ref.subscriptionId}~${ref.resourceGroup}~${ref.name}`.toLowerCase();
}

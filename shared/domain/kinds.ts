// What each account kind supports with customer-managed keys (DESIGN §9: Microsoft's CMK support matrix and the per-kind docs).

const same = (a: string | undefined, b: string): boolean => (a ?? '').toLowerCase() === b.toLowerCase();

/** Kinds whose key may live in a Managed HSM (support matrix, 2026-05): AI Foundry, Azure OpenAI, Speech, Translator, Face. */
export const MANAGED_HSM_KINDS: readonly string[] = ['AIServices', 'OpenAI', 'SpeechServices', 'TextTranslation', 'Face'];

/** Content Safety, Document Intelligence (FormRecognizer), Language (TextAnalytics) and every kind not listed are not supported. */
export function managedHsmSupported(kind: string | undefined): boolean {
  return MANAGED_HSM_KINDS.some((k) => same(kind, k));
}

/** Why an account of this kind cannot go back to Microsoft-managed keys; undefined when it can. */
export function cmkDisableRefusal(kind: string | undefined): string | undefined {
  if (!same(kind, 'AIServices')) return undefined;
  return 'AI Foundry (AIServices) accounts cannot switch from customer-managed keys back to Microsoft-managed keys';
}

interface UserAssignedSupport {
  supported: boolean;
  /** What the kind's CMK doc says, as evidence. */
  statement: string;
}

/** Whether a user-assigned identity (identityClientId) may be the one that reads the key, for this kind. */
export function userAssignedKeyIdentity(kind: string | undefined): UserAssignedSupport {
  if (same(kind, 'AIServices')) {
    return { supported: true, statement: 'AI Foundry (AIServices) accepts a user-assigned identity (identityClientId) for the customer-managed key' };
  }
  if (same(kind, 'OpenAI')) {
    return { supported: false, statement: 'the Azure OpenAI CMK doc supports the system-assigned managed identity only' };
  }
  return { supported: false, statement: `no CMK doc supports a user-assigned identity for kind ${kind ?? 'unknown'}; only AI Foundry (AIServices) documents it` };
}

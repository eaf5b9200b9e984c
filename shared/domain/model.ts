// The words of the domain: accounts, bindings, key versions, jobs and ledger rows.

/** A Microsoft.CognitiveServices/accounts resource, addressed by its ARM id parts. */
export interface AccountRef {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

/** Where an account's customer-managed key lives and which version it is bound to. */
export interface KeyBinding {
  vaultUri: string;
  keyName: string;
  keyVersion: string;
  identityClientId?: string;
}

export type KeySource = 'Microsoft.KeyVault' | 'Microsoft.CognitiveServices';

/** What the domain needs to know of an account, read through ARM. */
export interface AccountState extends AccountRef {
  kind?: string;
  location?: string;
  tags: Record<string, string>;
  provisioningState?: string;
  /** Absent when the account uses Microsoft-managed keys. */
  keySource?: KeySource;
  binding?: KeyBinding;
  identity?: {
    type: string;
    principalId?: string;
    tenantId?: string;
    /** ARM's identity.userAssignedIdentities: resource id -> the identity's object (principal) and client ids. */
    userAssignedIdentities?: Record<string, { principalId?: string; clientId?: string }>;
  };
}

/** One version of a Key Vault key, as the domain needs it (no key material). */
export interface KeyVersionInfo {
  vaultUri: string;
  keyName: string;
  version: string;
  enabled: boolean;
  kty?: string;
  /** RSA modulus size in bits, derived from the JWK `n`. */
  keySize?: number;
  keyOps: string[];
  createdOn?: Date;
  notBefore?: Date;
  expiresOn?: Date;
  recoveryLevel?: string;
}

export type Trigger = 'event' | 'sweep' | 'manual';

export type RotationStatus =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'already-current'
  | 'refused';

export const finalStatuses: ReadonlySet<RotationStatus> = new Set([
  'succeeded',
  'failed',
  'skipped',
  'already-current',
  'refused',
]);

/** One audit ledger row (Rotations table). */
export interface RotationRecord {
  jobId: string;
  accountId: string;
  trigger: Trigger;
  eventId?: string;
  eventType?: string;
  actor?: string;
  vaultUri: string;
  keyName: string;
  fromVersion?: string;
  toVersion?: string;
  status: RotationStatus;
  reason?: string;
  attempt: number;
  queuedAt: string;
  startedAt?: string;
  /** When the first intent was recorded: from then on the PATCH may have been sent. Never erased. */
  intentAt?: string;
  /** The attempt that recorded that intent. */
  intentAttempt?: number;
  finishedAt?: string;
  durationMs?: number;
}

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
  /** '' when the binding is versionless (ARM's keyVersion empty or absent): "the latest version" (DESIGN §2a). */
  keyVersion: string;
  identityClientId?: string;
}

/** DESIGN §2a: no key version means "latest" in Terraform's sense, the owner's explicit choice; never pinned silently. */
export function isVersionless(binding: Pick<KeyBinding, 'keyVersion'>): boolean {
  return binding.keyVersion.trim() === '';
}

export type KeySource = 'Microsoft.KeyVault' | 'Microsoft.CognitiveServices';

/** Whatever carries a key binding of its own: an account, or one of its encryption scopes. */
export type BindingHolder = Pick<AccountState, 'keySource' | 'binding' | 'provisioningState'>;

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
  /** The account's encryption scopes, when discovery listed them (ARM reads of one account leave this out). */
  encryptionScopes?: EncryptionScopeState[];
}

/** An accounts/encryptionScopes resource: its own key binding, following the same rules under the account's lease (§2a). */
export interface EncryptionScopeState {
  id: string;
  accountId: string;
  name: string;
  keySource?: KeySource;
  binding?: KeyBinding;
  provisioningState?: string;
  /** Enabled or Disabled. */
  state?: string;
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

/** What started a job: a Key Vault event, a sweep's repair, or a person. */
export const TRIGGERS = ['event', 'sweep', 'manual'] as const;
export type Trigger = (typeof TRIGGERS)[number];

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

/** How the reason of a `running` row starts once its job's attempts are spent and its outcome could not be read back. */
export const OUTCOME_UNKNOWN = 'outcome unknown';

/** One audit ledger row (Rotations table). */
export interface RotationRecord {
  jobId: string;
  accountId: string;
  /** The encryption scope of the account the row is about; absent for the account's own binding. */
  encryptionScope?: string;
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

/** A Key Vault vault or Managed HSM as ARM describes it: where it is, who may use its keys, how it protects them. */
export interface VaultInfo {
  id: string;
  /** A Key Vault vault (default) or a Managed HSM (Microsoft.KeyVault/managedHSMs: local RBAC only, no access policies). */
  kind?: 'vault' | 'managedHsm';
  name: string;
  location: string;
  tenantId: string;
  vaultUri: string;
  enableSoftDelete?: boolean;
  enablePurgeProtection?: boolean;
  enableRbacAuthorization?: boolean;
  accessPolicies: Array<{ tenantId: string; objectId: string; keys: string[] }>;
}

// What a person asks of the service through the HTTP API (shared/http/schemas.ts validates the bodies into these).

/** Rotate or rebind: one account (or one of its scopes), or every account bound to a key. */
export interface RotationRequest {
  accountId?: string;
  /** One of the account's encryption scopes instead of the account's own binding. */
  encryptionScope?: string;
  vaultUri?: string;
  keyName?: string;
  keyVersion?: string;
  rotateKey?: boolean;
  dryRun?: boolean;
  force?: boolean;
  /** Why a person forces a version (kept with the pin), e.g. "v7 breaks fine-tuning". */
  reason?: string;
}

/** Move an account to another key (keyName), or back to Microsoft-managed keys (keySource, confirmed by the account's name). */
export interface EncryptionRequest {
  accountId: string;
  keyName?: string;
  vaultUri?: string;
  keySource?: 'Microsoft.CognitiveServices';
  confirm?: string;
}

import type * as Zod from 'zod';
import { accountKey, isArmAccountId, parseAccountId } from '../domain/accounts';
import { SEVERITIES } from '../domain/findings';
import { KEY_NAME, KEY_VERSION } from '../domain/keys';
import { HISTORY_TOKEN_ACCOUNT } from '../domain/records';
import type { EncryptionRequest, RotationRequest } from '../domain/requests';
import { SCOPE_NAME } from '../domain/scopes';
import { lazy, zod, type ParsesTo } from '../lazy';

// Request bodies and queries of the HTTP API (DESIGN §6). Strict: an unknown field is a 400.

const CONTINUATION_KEY = /^[\w!+/=.~:-]{1,1024}$/;

/** A token this API handed out: Table Storage's base64 JSON with the (opaque, service-encoded) next partition and row keys. */
function isContinuationToken(token: string): boolean {
  const decoded = decodedToken(token);
  return decoded !== undefined
    && typeof decoded.nextPartitionKey === 'string' && CONTINUATION_KEY.test(decoded.nextPartitionKey)
    && typeof decoded.nextRowKey === 'string' && CONTINUATION_KEY.test(decoded.nextRowKey);
}

function decodedToken(token: string): Record<string, unknown> | undefined {
  if (token.length > 2048) return undefined;
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as unknown;
    return typeof decoded === 'object' && decoded !== null ? decoded as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/** The token was handed out with a page of this account's history (the ledger names the account's partition in it). */
function isTokenOf(token: string, accountId: string): boolean {
  return decodedToken(token)?.[HISTORY_TOKEN_ACCOUNT] === accountKey(accountId);
}

/** What its own checks already refused is not judged again (a bad id has no partition, a bad token no account). */
function tokenOfAnother(v: { accountId: string; continuationToken?: string | undefined }): boolean {
  return v.continuationToken !== undefined && isArmAccountId(v.accountId) && isContinuationToken(v.continuationToken) && !isTokenOf(v.continuationToken, v.accountId);
}

/**
 * A vault URI is the vault's origin, as Key Vault's key ids start: what follows the host (a user name, a key's path, a
 * query) names no vault, and would be kept in the jobs and ledger rows as written.
 */
function isVaultOrigin(uri: string): boolean {
  try {
    const url = new URL(uri);
    return !url.username && !url.password && url.pathname === '/' && !url.search && !url.hash && !/[\\@?#\s%]/.test(uri);
  } catch {
    return false;
  }
}

/** Request bodies and queries of the HTTP API, built with zod on first use (see shared/lazy.ts). */
function buildSchemas({ z }: typeof Zod) {
  // Every input is bounded before anything else reads it (ARM ids stay well under 512 characters).
  const accountId = z.string().max(512, 'must be at most 512 characters')
    .refine(isArmAccountId, 'must be a Microsoft.CognitiveServices/accounts resource id (/subscriptions/<GUID>/resourceGroups/<group>/providers/Microsoft.CognitiveServices/accounts/<name>)');
  const vaultUri = z.string().max(512, 'must be at most 512 characters').pipe(z.url({ protocol: /^https$/, error: 'must be an https:// vault URI' }))
    .refine(isVaultOrigin, 'must be a vault URI, https://<vault host>/ (no user name, password, path, query or fragment)')
    .transform((uri) => `${new URL(uri).origin}/`);
  const keyName = z.string().regex(KEY_NAME, 'must be a Key Vault key name (letters, digits, dashes)');
  const keyVersion = z.string().regex(KEY_VERSION, 'must be 32 hex characters');
  const encryptionScope = z.string().regex(SCOPE_NAME, 'must be an encryption scope name (letters, digits, - _ .)');

  const rotationRequest = z
    .strictObject({
      accountId: accountId.optional(),
      encryptionScope: encryptionScope.optional(),
      vaultUri: vaultUri.optional(),
      keyName: keyName.optional(),
      keyVersion: keyVersion.optional(),
      rotateKey: z.boolean().optional(),
      dryRun: z.boolean().optional(),
      force: z.boolean().optional(),
      reason: z.string().max(500, 'must be at most 500 characters').optional(),
    })
    .superRefine((v, ctx) => {
      const byKey = v.vaultUri !== undefined || v.keyName !== undefined;
      if (v.accountId !== undefined && byKey) ctx.addIssue({ code: 'custom', path: ['accountId'], message: 'give accountId, or vaultUri and keyName, not both' });
      if (v.accountId === undefined && !byKey) ctx.addIssue({ code: 'custom', path: ['accountId'], message: 'is required (or vaultUri and keyName)' });
      if (byKey && v.vaultUri === undefined) ctx.addIssue({ code: 'custom', path: ['vaultUri'], message: 'is required with keyName' });
      if (byKey && v.keyName === undefined) ctx.addIssue({ code: 'custom', path: ['keyName'], message: 'is required with vaultUri' });
      if (v.encryptionScope !== undefined && v.accountId === undefined) ctx.addIssue({ code: 'custom', path: ['encryptionScope'], message: 'needs accountId (the account the scope belongs to)' });
      if (v.rotateKey && v.keyVersion) ctx.addIssue({ code: 'custom', path: ['keyVersion'], message: 'cannot be given with rotateKey (the new version is the target)' });
    });

  const encryptionRequest = z
    .strictObject({
      accountId,
      keyName: keyName.optional(),
      vaultUri: vaultUri.optional(),
      keySource: z.literal('Microsoft.CognitiveServices', { error: 'can only be Microsoft.CognitiveServices (to disable CMK)' }).optional(),
      confirm: z.string().max(64).optional(),
    })
    .superRefine((v, ctx) => {
      if ((v.keyName === undefined) === (v.keySource === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['keyName'], message: 'give keyName (switch key) or keySource (disable CMK), exactly one' });
      }
      if (v.keySource && v.confirm !== parseAccountId(v.accountId)?.name) {
        ctx.addIssue({ code: 'custom', path: ['confirm'], message: "must be the account's exact name to disable customer-managed keys" });
      }
      if (v.keySource && v.vaultUri) ctx.addIssue({ code: 'custom', path: ['vaultUri'], message: 'does not apply when disabling CMK' });
      if (v.keyName !== undefined && v.confirm !== undefined) ctx.addIssue({ code: 'custom', path: ['confirm'], message: 'applies only when disabling CMK (keySource)' });
    });

  const LIMIT = 'must be a whole number from 1 to 100';
  const historyQuery = z.strictObject({
    accountId,
    // Decimal digits only: Number() would also read 0x10 or 1e1.
    limit: z.string().regex(/^\d{1,3}$/, LIMIT).transform(Number).pipe(z.number().min(1, LIMIT).max(100, LIMIT)).default(20),
    continuationToken: z.string().refine(isContinuationToken, 'is not a continuation token from a previous page').optional(),
  }).superRefine((v, ctx) => {
    if (tokenOfAnother(v)) {
      ctx.addIssue({ code: 'custom', path: ['continuationToken'], message: "is not from a previous page of this account's history" });
    }
  });

  const jobIdParam = z.strictObject({ jobId: z.string().regex(/^[0-9A-Za-z-]{8,64}$/, 'must be a job id') });

  const pinRequest = z.strictObject({ accountId, encryptionScope: encryptionScope.optional() });
  const complianceQuery = z.strictObject({ severity: z.enum(SEVERITIES as [string, ...string[]]).optional() });
  return { rotationRequest, encryptionRequest, historyQuery, jobIdParam, pinRequest, complianceQuery };
}

export const httpSchemas = lazy(() => buildSchemas(zod()));
type Schemas = ReturnType<typeof buildSchemas>;

// The bodies parse to exactly the use cases' request types: a field added to one and not the other fails the build.
const agreed: [ParsesTo<Schemas['rotationRequest'], RotationRequest>, ParsesTo<Schemas['encryptionRequest'], EncryptionRequest>] = [true, true];
void agreed;

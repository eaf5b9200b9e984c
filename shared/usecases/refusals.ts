/** Why a person's request is refused, as a stable code the HTTP edge maps to a status (shared/http/problem.ts). */
export type RefusalCode =
  | 'account-not-found' | 'account-not-cmk' | 'scope-not-found' | 'scope-not-cmk' | 'vault-not-allowed' | 'other-vault' | 'key-version-not-found'
  | 'key-not-usable' | 'preflight-refused' | 'no-bound-accounts' | 'cmk-disable-unsupported' | 'job-not-found' | 'pin-not-found' | 'sweep-running';

/** A refusal of a person's request, with a stable code the HTTP edge maps to a status. */
export interface Refusal {
  code: RefusalCode;
  detail: string;
  field?: string;
}
export type Result<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

export const refuse = (code: RefusalCode, detail: string, field?: string): { ok: false; refusal: Refusal } => ({
  ok: false,
  refusal: { code, detail, ...(field ? { field } : {}) },
});

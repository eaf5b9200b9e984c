import type { KeyPolicy } from '../domain/keys';
import type { AccountState, BindingHolder, EncryptionScopeState, RotationRecord, RotationStatus } from '../domain/model';
import type { Pin } from '../domain/rebind';
import type { AccountJournal, AccountStore, Clock, EncryptionChange, JobQueue, KeyStore, PinStore } from '../ports';
import type { PinEffect } from './jobPin';
import type { RetryPolicy } from './retry';

// What the account job runner (accountJob.ts) needs, is given and answers.

export interface AccountJobDeps {
  keys: KeyStore;
  accounts: AccountStore;
  journal: AccountJournal;
  pins: PinStore;
  queue: JobQueue;
  clock: Clock;
  newId: () => string;
  policy: KeyPolicy;
  /** A lease not renewed for this long is taken over; a running job renews it every third of it. */
  leaseTtlMs: number;
  retry: RetryPolicy;
  /** After the operation ended: how many more reads while the account still reports itself busy, and the first wait. */
  settle: { reads: number; delayMs: number };
  sleep: (ms: number) => Promise<void>;
}

/** The version a plan aimed at, when the key was read: when it was created (the binding lag starts there). */
type Target = { targetCreatedOn?: Date; targetVersion?: string };

export type PatchPlan = { action: 'patch'; change: EncryptionChange; from?: string; to?: string; keyName: string; reason?: string; pin?: PinEffect } & Target;
export type Plan =
  | PatchPlan
  | ({ action: 'none'; status: Extract<RotationStatus, 'skipped' | 'already-current' | 'refused'>; reason: string; pin?: PinEffect } & Target);

export interface AccountJobSteps {
  /**
   * What the job does to the pin whatever it plans (a person's plain change releases it once the account is where
   * they asked): also what an attempt that could not plan settles the pin by. A plan's own pin goes first.
   */
  pin?: PinEffect;
  /** Rules 1-5 on a fresh read of the account, the job's encryption scope if it names one, and the binding's pin. */
  plan(read: { account: AccountState; pin: Pin | undefined; scope?: EncryptionScopeState }): Promise<Plan>;
  /** Rule 6: what is missing when the account (or the job's scope) does not report the change; undefined when it does. */
  missing(holder: BindingHolder, change: Pick<PatchPlan, 'keyName' | 'to'>): string | undefined;
}

export type JobOutcome =
  | { outcome: 'recorded'; record: RotationRecord }
  | { outcome: 'deferred'; reason: string }
  | { outcome: 'already-finished'; record: RotationRecord };

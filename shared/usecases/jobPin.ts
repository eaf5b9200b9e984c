import type { RotationStatus } from '../domain/model';
import type { Pin } from '../domain/rebind';
import type { PinStore } from '../ports';

/** What a job's plan does to the binding's pin (§2a). */
export type PinEffect = { set: Pin } | { release: true };

/**
 * One job's part in its binding's pin (§2a), with the note its row carries. A forced rebind pins the account with
 * its intent (if the outcome cannot be known, the pin holds it there) and keeps the pin only where the account
 * went: one that ends refused, skipped or failed takes back the pin it set (by its jobId). A plain rotation
 * releases a pin once the account is where it asked, and not before.
 */
export class JobPin {
  effect: PinEffect | undefined;
  /** What the job did to the pin, for its row's reason. */
  note: string | undefined;
  private set = false;

  constructor(
    private readonly pins: PinStore,
    private readonly binding: { accountId: string; jobId: string; force: boolean; scope: string | undefined },
  ) {}

  async withIntent(): Promise<void> {
    if (!this.effect || !('set' in this.effect)) return;
    await this.pins.set(this.effect.set);
    this.set = true;
    this.note = `pinned to ${this.effect.set.keyVersion}: ${this.effect.set.reason}`;
  }

  /** Whether settle(status) would write to the pin store. */
  changesWith(status: RotationStatus): boolean {
    const arrived = status === 'succeeded' || status === 'already-current';
    if (this.effect && 'release' in this.effect) return arrived;
    if (this.effect && arrived) return !this.set;
    return !arrived && this.binding.force;
  }

  async settle(status: RotationStatus): Promise<void> {
    const { accountId, jobId, force, scope } = this.binding;
    const arrived = status === 'succeeded' || status === 'already-current';
    if (this.effect && 'release' in this.effect) {
      if (!arrived) return;
      const released = await this.pins.release(accountId, undefined, scope);
      if (released) this.note = `released the pin to ${released.keyVersion} set by ${released.actor}`;
    } else if (this.effect && arrived) {
      if (!this.set) await this.withIntent();
    } else if (!arrived && force) {
      const released = await this.pins.release(accountId, jobId, scope);
      if (released) this.note = `took back its pin to ${released.keyVersion}`;
    }
  }
}

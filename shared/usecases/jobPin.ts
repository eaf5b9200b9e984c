import type { RotationStatus } from '../domain/model';
import type { Pin } from '../domain/rebind';
import type { PinStore } from '../ports';

/** What a job's plan does to the binding's pin (§2a). */
export type PinEffect = { set: Pin } | { release: true };

/** §2a: a person's plain change (rotation, switch-key, disable-cmk) releases a pin once the account is where they asked. */
export const releasesPin: PinEffect = { release: true };

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
    return this.change(status) !== undefined;
  }

  async settle(status: RotationStatus): Promise<void> {
    const { accountId, jobId, scope } = this.binding;
    const change = this.change(status);
    if (change === 'set') return this.withIntent();
    if (!change) return;
    const released = await this.pins.release(accountId, change === 'take-back' ? jobId : undefined, scope);
    if (released) this.note = change === 'take-back' ? `took back its pin to ${released.keyVersion}` : `released the pin to ${released.keyVersion} set by ${released.actor}`;
  }

  /** What the outcome does to the pin: one decision for changesWith and settle. */
  private change(status: RotationStatus): 'release' | 'set' | 'take-back' | undefined {
    const arrived = status === 'succeeded' || status === 'already-current';
    if (this.effect && 'release' in this.effect) return arrived ? 'release' : undefined;
    if (this.effect && arrived) return this.set ? undefined : 'set';
    return !arrived && this.binding.force ? 'take-back' : undefined;
  }
}

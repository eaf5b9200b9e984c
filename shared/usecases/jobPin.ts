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
  /** The binding's pin as the job read it with its journal, before it set one of its own. */
  prior: Pin | undefined;
  private set = false;

  constructor(
    private readonly pins: PinStore,
    private readonly binding: { accountId: string; jobId: string; force: boolean; scope: string | undefined },
  ) {}

  async withIntent(): Promise<void> {
    if (!this.effect || !('set' in this.effect)) return;
    await this.pins.set(withChain(this.effect.set, this.replaced()));
    this.set = true;
    this.note = `pinned to ${this.effect.set.keyVersion}: ${this.effect.set.reason}`;
  }

  /**
   * The pins this job's own replaces, nearest first: the one it read and those that one replaced, or, when an earlier
   * attempt of the job already set its pin, those that pin keeps. The job's own pin is never among them.
   */
  private replaced(): Pin[] {
    const prior = this.prior;
    if (!prior) return [];
    const chain = prior.jobId === this.binding.jobId ? chainOf(prior) : [bare(prior), ...chainOf(prior)];
    return chain.filter((p) => p.jobId !== this.binding.jobId);
  }

  /**
   * Takes back the job's own pin: the pin it replaced holds the binding again (one write over its own, so a failure
   * leaves the binding pinned), or, when it replaced none, the pin goes. A pin set over the job's own since (another
   * forced rebind) stays, and forgets the job's pin, which would otherwise hold the binding again once that one is
   * taken back.
   */
  private async takeBack(): Promise<void> {
    const { accountId, jobId, scope } = this.binding;
    const own = await this.pins.get(accountId, scope);
    const chain = chainOf(own);
    if (own && own.jobId !== jobId) {
      if (chain.some((p) => p.jobId === jobId)) {
        await this.pins.set(withChain(own, chain.filter((p) => p.jobId !== jobId)));
        this.note = `took back its pin, replaced since by the pin to ${own.keyVersion} set by ${own.actor}, which stays`;
      }
      return;
    }
    const [restored, ...older] = chain;
    if (own && restored) {
      await this.pins.restore(withChain(restored, older));
      this.note = `took back its pin to ${own.keyVersion}; the pin to ${restored.keyVersion} set by ${restored.actor} holds again`;
      return;
    }
    const released = await this.pins.release(accountId, jobId, scope);
    if (released) this.note = `took back its pin to ${released.keyVersion}`;
  }

  /** Whether settle(status) would write to the pin store. */
  changesWith(status: RotationStatus): boolean {
    return this.change(status) !== undefined;
  }

  async settle(status: RotationStatus): Promise<void> {
    const { accountId, scope } = this.binding;
    const change = this.change(status);
    if (change === 'set') return this.withIntent();
    if (!change) return;
    if (change === 'take-back') return this.takeBack();
    const released = await this.pins.release(accountId, undefined, scope);
    if (released) this.note = `released the pin to ${released.keyVersion} set by ${released.actor}`;
  }

  /** What the outcome does to the pin: one decision for changesWith and settle. */
  private change(status: RotationStatus): 'release' | 'set' | 'take-back' | undefined {
    const arrived = status === 'succeeded' || status === 'already-current';
    if (this.effect && 'release' in this.effect) return arrived ? 'release' : undefined;
    if (this.effect && arrived) return this.set ? undefined : 'set';
    return !arrived && this.binding.force ? 'take-back' : undefined;
  }
}

/** A pin without the pins it replaced. */
function bare(pin: Pin): Pin {
  const { replaces: _chain, ...rest } = pin;
  return rest;
}

/** The pins `pin` replaced, nearest first. */
function chainOf(pin: Pin | undefined): Pin[] {
  return pin?.replaces ? (JSON.parse(pin.replaces) as Pin[]).map(bare) : [];
}

/**
 * `pin` keeping `chain` (each as written, once: a chain is never JSON inside JSON), its nearest MAX_CHAIN: a Table
 * property holds 64 KiB, and a pin with its reason up to about 1 KB.
 */
function withChain(pin: Pin, chain: readonly Pin[]): Pin {
  return chain.length ? { ...bare(pin), replaces: JSON.stringify(chain.slice(0, MAX_CHAIN)) } : bare(pin);
}

/** Replaced pins a pin keeps: forced rebinds of one binding still undecided side by side, and more. */
const MAX_CHAIN = 16;

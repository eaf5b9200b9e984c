import type { KeyView } from '../domain/findings';
import { versionOrder, type KeyPolicy, type VersionOrder } from '../domain/keys';
import type { KeyVersionInfo } from '../domain/model';
import { DependencyError } from '../errors';
import type { KeyStore } from '../ports';
import { newestUsableAmong } from './keyVersions';

type Base =
  | { status: 'ok'; order: VersionOrder; newestUsable: KeyVersionInfo | undefined; current: KeyVersionInfo }
  | { status: 'missing' }
  | { status: 'access-denied' };

/**
 * One key as the sweep and the expiry events read it, for every account bound to it: the listing, the current
 * version (it orders versions made in the same second) and the newest usable version are read once, and each
 * bound version once, when an account first asks for it. Calls grow with keys and versions, not with accounts.
 */
export class KeyReader {
  private readonly versions = new Map<string, Promise<KeyVersionInfo | undefined>>();
  private readonly views = new Map<string, Promise<KeyView>>();
  private base: Promise<Base> | undefined;

  constructor(
    private readonly keys: KeyStore,
    readonly vaultUri: string,
    readonly keyName: string,
    private readonly policy: KeyPolicy,
    private readonly now: Date,
  ) {}

  /**
   * The key for a binding to `boundVersion` ('' when versionless), one view per version for all its accounts. The
   * bound version is read alongside the listing and the current version: one round trip, not two (when it is the
   * current version, one read more per key). Throws DependencyError when Key Vault cannot be read (but 403).
   */
  view(boundVersion: string): Promise<KeyView> {
    const id = boundVersion.toLowerCase();
    let view = this.views.get(id);
    if (!view) {
      const bound = boundVersion ? this.version(boundVersion) : undefined;
      // A key that is missing or denied answers so without the version's read.
      bound?.catch(() => undefined);
      view = this.read().then(async (b): Promise<KeyView> => {
        if (b.status !== 'ok') return b;
        return { status: 'ok', bound: await bound, newestUsable: b.newestUsable, current: b.current, order: b.order };
      });
      this.views.set(id, view);
    }
    return view;
  }

  /** The newest usable version, when the key could be read. */
  async newestUsable(): Promise<KeyVersionInfo | undefined> {
    const base = await this.read();
    return base.status === 'ok' ? base.newestUsable : undefined;
  }

  private read(): Promise<Base> {
    this.base ??= (async (): Promise<Base> => {
      try {
        const [listed, current] = await Promise.all([this.keys.listVersions(this.vaultUri, this.keyName), this.keys.getKeyVersion(this.vaultUri, this.keyName)]);
        if (!current) return { status: 'missing' };
        this.versions.set(current.version.toLowerCase(), Promise.resolve(current));
        const order = versionOrder(current.version);
        const newestUsable = await newestUsableAmong(listed, order, this.policy, this.now, (v) => this.version(v.version));
        return { status: 'ok', order, newestUsable, current };
      } catch (error) {
        if (error instanceof DependencyError && error.statusCode === 403) return { status: 'access-denied' };
        throw error;
      }
    })();
    return this.base;
  }

  private version(version: string): Promise<KeyVersionInfo | undefined> {
    const key = version.toLowerCase();
    let read = this.versions.get(key);
    if (!read) {
      read = this.keys.getKeyVersion(this.vaultUri, this.keyName, version);
      this.versions.set(key, read);
    }
    return read;
  }
}

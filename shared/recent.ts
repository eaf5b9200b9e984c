/**
 * Reads kept by key, shared by concurrent callers: for as long as this lives, or for `freshForMs`. A read that
 * fails is not kept, so the next caller tries again.
 */
export class Recent<T> {
  private readonly kept = new Map<string, { at: number; value: Promise<T> }>();

  constructor(private readonly freshForMs?: number) {}

  /** The kept read while it is fresh, else a new one (`refresh` forces it). */
  get(key: string, read: () => Promise<T>, refresh = false): Promise<T> {
    const hit = this.kept.get(key);
    if (!refresh && hit && (this.freshForMs === undefined || Date.now() - hit.at < this.freshForMs)) return hit.value;
    const value = read();
    this.kept.set(key, { at: Date.now(), value });
    value.catch(() => {
      if (this.kept.get(key)?.value === value) this.kept.delete(key);
    });
    return value;
  }

  clear(): void {
    this.kept.clear();
  }
}

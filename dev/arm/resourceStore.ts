import type { JsonObject } from './http';
import { resourceKey } from './paths';

/** Resources keyed case-insensitively by id; the stored JSON keeps the casing it was given. */
export class ResourceStore {
  private readonly items = new Map<string, JsonObject>();
  /** Counts every change: a snapshot taken at one version is still the store's content at that version. */
  version = 0;

  put(resource: JsonObject): void {
    const id = resource['id'];
    if (typeof id !== 'string') throw new Error('A resource needs a string id');
    this.items.set(resourceKey(id), resource);
    this.version += 1;
  }

  get(id: string): JsonObject | undefined {
    return this.items.get(resourceKey(id));
  }

  delete(id: string): void {
    this.items.delete(resourceKey(id));
    this.version += 1;
  }

  values(): JsonObject[] {
    return [...this.items.values()];
  }
}

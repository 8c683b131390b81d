// chrome.storage.local: one provider's key-value store, kept in the state
// directory (<stateDir>/chrome/<provider>/storage.json, 0600 in 0700
// directories), written atomically (temporary file, fsync, rename) on every
// change. Values are JSON, as Chrome stores them. A corrupt file makes every
// call fail with an error that names it, and is never overwritten.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { argTypeError, fsError, VpnError } from '../errors';
import { ChromeEvent } from '../events';
import { writeFileAtomic } from '../platform/store';
import { facade, guard, type EventFacade } from './absent';
import type { Caller } from './call';

export type StorageChanges = Record<string, { oldValue?: unknown; newValue?: unknown }>;
type Items = Record<string, unknown>;
type Callback<T> = (result: T) => void;

/** Chrome's local quota: 10 MiB (without the unlimitedStorage permission). */
export const QUOTA_BYTES = 10485760;

export interface StorageArea {
  get(callback: Callback<Items>): void;
  get(keys?: string | string[] | Items | null, callback?: Callback<Items>): Promise<Items> | void;
  set(items: Items, callback?: () => void): Promise<void> | void;
  remove(keys: string | string[], callback?: () => void): Promise<void> | void;
  clear(callback?: () => void): Promise<void> | void;
  getBytesInUse(callback: Callback<number>): void;
  getBytesInUse(
    keys?: string | string[] | null,
    callback?: Callback<number>,
  ): Promise<number> | void;
  readonly QUOTA_BYTES: number;
  readonly onChanged: EventFacade<[StorageChanges]>;
}

export interface Storage {
  readonly local: StorageArea;
  readonly onChanged: EventFacade<[StorageChanges, string]>;
}

const invocation = (api: string, why: string) =>
  argTypeError(`Error in invocation of storage.local.${api}: ${why}`);

const copy = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** The file of one provider's data under stateDir: the id, escaped to one path component. */
export function providerDir(stateDir: string, providerId: string): string {
  return path.join(stateDir, 'chrome', encodeURIComponent(providerId).replace(/\./g, '%2E'));
}

export class LocalStore {
  readonly file: string;
  private data: Map<string, string> | null = null;
  readonly changed = new ChromeEvent<[StorageChanges]>('storage.local.onChanged');
  readonly changedAny = new ChromeEvent<[StorageChanges, string]>('storage.onChanged');

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'storage.json');
  }

  /** The stored items (values as JSON text), read once. */
  private load(): Map<string, string> {
    if (this.data) return this.data;
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return (this.data = new Map());
      throw fsError(err, `Cannot read the storage file ${this.file}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw this.corrupt((err as Error).message);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw this.corrupt('expected a JSON object of items');
    }
    const m = new Map<string, string>();
    for (const [k, v] of Object.entries(parsed)) m.set(k, JSON.stringify(v));
    return (this.data = m);
  }

  private corrupt(why: string): VpnError {
    return new VpnError(
      `The storage file ${this.file} is corrupt (${why}); it was left as it is: repair it or move it away.`,
      'ERR_STORAGE_CORRUPT',
    );
  }

  private save(next: Map<string, string>): void {
    const text = `{${[...next].map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}\n`;
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fsError(err, `Cannot create the storage directory ${this.dir}`);
    }
    writeFileAtomic(this.file, text, 'the storage file');
    this.data = next;
  }

  get(keys: string[] | null, defaults: Items | null): Items {
    const m = this.load();
    const out: Items = {};
    if (defaults) for (const [k, v] of Object.entries(defaults)) out[k] = copy(v);
    for (const k of keys ?? m.keys()) {
      const v = m.get(k);
      if (v !== undefined) out[k] = JSON.parse(v);
    }
    return out;
  }

  bytesInUse(keys: string[] | null): number {
    const m = this.load();
    let n = 0;
    for (const k of keys ?? m.keys()) {
      const v = m.get(k);
      if (v !== undefined) n += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    return n;
  }

  set(items: Items): void {
    const next = new Map(this.load());
    const changes: StorageChanges = {};
    for (const [k, value] of Object.entries(items)) {
      if (value === undefined) continue;
      const json = JSON.stringify(value);
      if (json === undefined) continue; // a function: Chrome stores nothing either
      const old = next.get(k);
      if (old === json) continue;
      changes[k] =
        old === undefined
          ? { newValue: JSON.parse(json) }
          : {
              oldValue: JSON.parse(old),
              newValue: JSON.parse(json),
            };
      next.set(k, json);
    }
    this.commit(next, changes);
  }

  remove(keys: string[] | null): void {
    const next = new Map(this.load());
    const changes: StorageChanges = {};
    for (const k of keys ?? [...next.keys()]) {
      const old = next.get(k);
      if (old === undefined) continue;
      changes[k] = { oldValue: JSON.parse(old) };
      next.delete(k);
    }
    this.commit(next, changes);
  }

  private commit(next: Map<string, string>, changes: StorageChanges): void {
    if (Object.keys(changes).length === 0) return;
    let total = 0;
    for (const [k, v] of next) total += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (total > QUOTA_BYTES) throw new VpnError('QUOTA_BYTES quota exceeded', 'ERR_QUOTA');
    this.save(next);
    this.changed.dispatch(changes);
    this.changedAny.dispatch(changes, 'local');
  }
}

function keyList(api: string, keys: unknown, allowNull: boolean): string[] | null {
  if (keys === undefined || (keys === null && allowNull)) return null;
  if (typeof keys === 'string') return [keys];
  if (Array.isArray(keys) && keys.every((k) => typeof k === 'string')) return keys as string[];
  throw invocation(api, 'keys must be a string or an array of strings.');
}

/** chrome.storage for one provider, on `caller`'s lastError. */
export function createStorage(store: LocalStore, caller: Caller): Storage {
  // Writes one at a time, in call order.
  let queue: Promise<unknown> = Promise.resolve();
  const inOrder = <T>(fn: () => T): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  const local = {
    QUOTA_BYTES,
    get(keys?: unknown, callback?: unknown) {
      if (typeof keys === 'function' && callback === undefined) [keys, callback] = [null, keys];
      let list: string[] | null;
      let defaults: Items | null = null;
      if (typeof keys === 'object' && keys !== null && !Array.isArray(keys)) {
        defaults = keys as Items;
        list = Object.keys(defaults);
      } else {
        list = keyList('get', keys, true);
      }
      return caller.call(
        'storage.local.get',
        () => inOrder(() => store.get(list, defaults)),
        callback,
        (items) => [items],
      );
    },
    set(items: unknown, callback?: unknown) {
      if (typeof items !== 'object' || items === null || Array.isArray(items))
        throw invocation('set', 'items must be an object.');
      const snapshot = { ...(items as Items) };
      return caller.call('storage.local.set', () => inOrder(() => store.set(snapshot)), callback);
    },
    remove(keys: unknown, callback?: unknown) {
      const list = keyList('remove', keys, false) as string[];
      return caller.call('storage.local.remove', () => inOrder(() => store.remove(list)), callback);
    },
    clear(callback?: unknown) {
      return caller.call('storage.local.clear', () => inOrder(() => store.remove(null)), callback);
    },
    getBytesInUse(keys?: unknown, callback?: unknown) {
      if (typeof keys === 'function' && callback === undefined) [keys, callback] = [null, keys];
      const list = keyList('getBytesInUse', keys, true);
      return caller.call(
        'storage.local.getBytesInUse',
        () => inOrder(() => store.bytesInUse(list)),
        callback,
        (n) => [n],
      );
    },
    onChanged: facade('chrome.storage.local.onChanged', store.changed),
  };
  return guard('chrome.storage', {
    local: guard('chrome.storage.local', local) as unknown as StorageArea,
    onChanged: facade('chrome.storage.onChanged', store.changedAny),
  });
}

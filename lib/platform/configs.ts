// The configurations: the platform's view of the store (configs.json in the
// state directory), kept in step with it. Another process on the same
// state directory may change the file; a change of ours is written against
// the file as it is then (ConfigStore.update), never over it.
import { VpnError } from '../errors';
import { ChromeError } from '../provider/errors';
import type { ConfigInfo } from './status';
import type { ConfigStore, StoredConfig } from './store';

export class ConfigRegistry {
  /** providerId -> id -> config. */
  private readonly known = new Map<string, Map<string, StoredConfig>>();
  /** providerId -> names whose create is still being written. */
  private readonly pending = new Map<string, Set<string>>();

  constructor(private readonly store: ConfigStore) {
    for (const c of store.load()) this.of(c.providerId).set(c.id, c);
  }

  /** Every configuration, in the order they were made. */
  list(): ConfigInfo[] {
    const out: ConfigInfo[] = [];
    for (const [providerId, m] of this.known) {
      for (const c of m.values()) out.push({ providerId, id: c.id, name: c.name });
    }
    return out;
  }

  /** Throws ERR_NO_SUCH_CONFIG unless the provider has that configuration. */
  require(providerId: string, id: string): void {
    if (!this.of(providerId).has(id)) {
      throw new VpnError(
        `No configuration "${id}" for provider "${providerId}".`,
        'ERR_NO_SUCH_CONFIG',
      );
    }
  }

  /** Chrome's createConfig: the name is the id; unique per provider, also against a create in flight. */
  async create(providerId: string, name: string): Promise<string> {
    if (name === '') throw new ChromeError('ERR_EMPTY_NAME');
    const m = this.of(providerId);
    const pending = this.pendingOf(providerId);
    if (m.has(name) || pending.has(name)) throw new ChromeError('ERR_NAME_NOT_UNIQUE');
    pending.add(name);
    try {
      const config: StoredConfig = { providerId, id: name, name };
      await this.store.update((cs) => {
        // Another process may have created it meanwhile.
        if (cs.some((c) => c.providerId === providerId && c.id === name))
          throw new ChromeError('ERR_NAME_NOT_UNIQUE');
        return [...cs, config];
      });
      m.set(name, config);
      return name;
    } finally {
      pending.delete(name);
    }
  }

  /**
   * Chrome's destroyConfig: gone from the view at once (a createConfig right
   * after succeeds, as in Chrome), then `ending` runs (the platform ends the
   * configuration's session, if it has one), then the store is written. If that write
   * fails (a read-only or full state directory) it is still stored, so
   * still known.
   */
  async destroy(
    providerId: string,
    id: string,
    ending: () => Promise<void> | undefined,
  ): Promise<void> {
    const m = this.of(providerId);
    if (this.pendingOf(providerId).has(id)) throw new ChromeError('ERR_PENDING_CREATE');
    const config = m.get(id);
    if (!config) throw new ChromeError('ERR_UNAUTHORIZED');
    m.delete(id);
    // Only when there is a session to end: otherwise the store's write must
    // start now, ahead of a create of the same name that follows at once.
    const ended = ending();
    if (ended) await ended;
    try {
      await this.store.update((cs) =>
        cs.filter((c) => !(c.providerId === providerId && c.id === id)),
      );
    } catch (err) {
      if (!m.has(id) && !this.pendingOf(providerId).has(id)) m.set(id, config);
      throw err;
    }
  }

  /** The user forgets it: written first, then gone from the view. */
  async remove(providerId: string, id: string): Promise<void> {
    await this.store.update((cs) =>
      cs.filter((c) => !(c.providerId === providerId && c.id === id)),
    );
    this.of(providerId).delete(id);
  }

  private of(providerId: string): Map<string, StoredConfig> {
    let m = this.known.get(providerId);
    if (!m) {
      m = new Map();
      this.known.set(providerId, m);
    }
    return m;
  }

  private pendingOf(providerId: string): Set<string> {
    let s = this.pending.get(providerId);
    if (!s) {
      s = new Set();
      this.pending.set(providerId, s);
    }
    return s;
  }
}

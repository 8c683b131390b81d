// What Chrome has and this package does not is absent, not a stub: reading
// chrome.tabs (or chrome.storage.sync, or chrome.sockets.tcp...) throws an
// error that names the API, so an extension that needs it fails at the line
// that uses it, with a reason. `'tabs' in chrome` stays false, for code that
// feature-tests.
import { VpnError } from '../errors';
import type { ChromeEvent, Listener } from '../events';

export const PROVIDED =
  'chrome.vpnProvider, chrome.runtime (lastError, id, getManifest, onStartup, onInstalled), ' +
  'chrome.storage.local (and storage.onChanged) and chrome.sockets.udp';

/** Keys that inspection, Promise resolution and test matchers probe: never an API. */
const PROBES = new Set([
  'then',
  'toJSON',
  'inspect',
  'asymmetricMatch',
  '$$typeof',
  'nodeType',
  'tagName',
  '_isMockFunction',
  '@@__IMMUTABLE_ITERABLE__@@',
  '@@__IMMUTABLE_RECORD__@@',
  '__esModule',
]);

export class AbsentApiError extends VpnError {
  constructor(readonly api: string) {
    super(
      `${api} is not available: vpn-provider runs an extension's background code with ${PROVIDED}.`,
      'ERR_CHROME_API_ABSENT',
    );
    this.name = 'AbsentApiError';
  }
}

/** `target` as the namespace `name` (e.g. "chrome.storage"): unknown members throw. */
export function guard<T extends object>(name: string, target: T): T {
  return new Proxy(target, {
    get(t, key, receiver) {
      if (typeof key === 'symbol' || key in t || PROBES.has(key)) {
        return Reflect.get(t, key, receiver);
      }
      throw new AbsentApiError(`${name}.${key}`);
    },
  });
}

/** Chrome's event object: the four listener methods, nothing of ours. */
export interface EventFacade<A extends unknown[]> {
  addListener(listener: Listener<A>): void;
  removeListener(listener: Listener<A>): void;
  hasListener(listener: Listener<A>): boolean;
  hasListeners(): boolean;
}

export function facade<A extends unknown[]>(name: string, e: ChromeEvent<A>): EventFacade<A> {
  return guard(name, {
    addListener: (l: Listener<A>) => e.addListener(l),
    removeListener: (l: Listener<A>) => e.removeListener(l),
    hasListener: (l: Listener<A>) => e.hasListener(l),
    hasListeners: () => e.hasListeners(),
  });
}

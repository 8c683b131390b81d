// Chrome-style events: addListener / removeListener / hasListener /
// hasListeners. A listener that throws does not stop the others, nor the
// code that fired the event: the error is reported as Chrome does ("Error in
// event handler for ..."), through `ChromeEvent.onListenerError`.

export type Listener<A extends unknown[]> = (...args: A) => void;

export class ChromeEvent<A extends unknown[]> {
  /** Where errors thrown by listeners go; replace it to route them elsewhere. */
  static onListenerError: (eventName: string, error: unknown) => void = (eventName, error) => {
    console.error(`Error in event handler for ${eventName}:`, error);
  };

  private listeners: Listener<A>[] = [];

  /**
   * @param name shown when a listener throws
   * @param onActive called with true when the first listener is added and
   *        with false when the last one is removed
   */
  constructor(
    readonly name: string,
    private readonly onActive?: (active: boolean) => void,
  ) {}

  addListener(listener: Listener<A>): void {
    if (typeof listener !== 'function') {
      throw Object.assign(
        new TypeError(`${this.name}.addListener: the listener must be a function`),
        { code: 'ERR_INVALID_ARG_TYPE' },
      );
    }
    if (this.listeners.includes(listener)) return;
    // Copy on write: a dispatch in progress keeps the array it started with.
    this.listeners = [...this.listeners, listener];
    if (this.listeners.length === 1) this.onActive?.(true);
  }

  removeListener(listener: Listener<A>): void {
    const i = this.listeners.indexOf(listener);
    if (i < 0) return;
    this.listeners = this.listeners.filter((l) => l !== listener);
    if (this.listeners.length === 0) this.onActive?.(false);
  }

  hasListener(listener: Listener<A>): boolean {
    return this.listeners.includes(listener);
  }

  hasListeners(): boolean {
    return this.listeners.length > 0;
  }

  /** Calls each listener with args; returns how many threw. */
  dispatch(...args: A): number {
    const ls = this.listeners;
    let failed = 0;
    for (let i = 0; i < ls.length; i++) {
      try {
        ls[i](...args);
      } catch (err) {
        failed++;
        ChromeEvent.onListenerError(this.name, err);
      }
    }
    return failed;
  }

  /** Removes every listener (used when the owner closes). */
  clear(): void {
    if (this.listeners.length === 0) return;
    this.listeners = [];
    this.onActive?.(false);
  }
}

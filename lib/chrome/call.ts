// Chrome's calling convention for the `chrome` object of one extension.
//
// A method given a trailing callback returns nothing and calls it later:
// with the result, or, on failure, with `chrome.runtime.lastError` set to
// { message } during that call only (and the failure's own results, where
// Chrome passes some: sockets.udp's result codes). lastError is cleared
// after the callback returns, also when it throws; a callback that throws
// is reported ("Error in response to ...") and the extension goes on; a
// failure whose callback never read lastError is reported as Chrome does
// ("Unchecked runtime.lastError: ..."). Without a callback, Manifest V3
// code gets a Promise (which never brings the process down unhandled);
// Manifest V2 code gets nothing, and a failure is reported as unchecked.
import { VpnError } from '../errors';

/** A failure that still hands its callback arguments (Chrome's ErrorWithArguments). */
export class FailureWithArguments extends VpnError {
  constructor(
    message: string,
    code: string,
    readonly args: unknown[],
  ) {
    super(message, code);
    this.name = 'FailureWithArguments';
  }
}

export type Log = (line: string) => void;

function describe(err: unknown): string {
  const e = err as { stack?: unknown; message?: unknown };
  if (typeof e?.stack === 'string') return e.stack;
  if (typeof e?.message === 'string') return e.message;
  return String(err);
}

export class Caller {
  private current: { message: string } | undefined = undefined;
  private read = false;

  constructor(
    private readonly log: Log,
    /** false: Manifest V2, no Promise without a callback. */
    private readonly promises: boolean,
  ) {}

  /** chrome.runtime.lastError: set only during a failed call's callback. */
  get lastError(): { message: string } | undefined {
    this.read = true;
    return this.current;
  }

  /**
   * Runs `start` the Chrome way. `results` turns a success into the
   * callback's arguments (none by default).
   */
  call<T>(
    api: string,
    start: () => Promise<T> | T,
    callback: unknown,
    results: (value: T) => unknown[] = () => [],
  ): Promise<T> | undefined {
    if (callback !== undefined && typeof callback !== 'function') {
      throw Object.assign(
        new TypeError(`Error in invocation of ${api}: the callback must be a function.`),
        { code: 'ERR_INVALID_ARG_TYPE' },
      );
    }
    const p = Promise.resolve().then(start);
    if (callback === undefined) {
      if (this.promises) {
        // Chrome logs an unhandled rejection and goes on; so do we.
        p.catch(() => {});
        return p;
      }
      p.catch((err: unknown) => this.log(`Unchecked runtime.lastError: ${message(err)}`));
      return undefined;
    }
    const cb = callback as (...args: unknown[]) => void;
    p.then(
      (value) => this.respond(api, cb, results(value)),
      (err: unknown) =>
        this.respond(api, cb, err instanceof FailureWithArguments ? err.args : [], message(err)),
    );
    return undefined;
  }

  private respond(api: string, cb: (...a: unknown[]) => void, args: unknown[], error?: string) {
    const outer = this.current;
    const outerRead = this.read;
    this.current = error === undefined ? undefined : { message: error };
    this.read = false;
    try {
      cb(...args);
    } catch (err) {
      this.log(`Error in response to ${api}: ${describe(err)}`);
    } finally {
      if (error !== undefined && !this.read) {
        this.log(`Unchecked runtime.lastError: ${error}`);
      }
      this.current = outer;
      this.read = outerRead;
    }
  }
}

function message(err: unknown): string {
  const m = (err as { message?: unknown })?.message;
  return typeof m === 'string' ? m : String(err);
}

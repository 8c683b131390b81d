// Chrome's calling convention next to Promises: every method returns a
// Promise, or, given a trailing callback, returns nothing and calls
// callback(result) with `runtime.lastError` set during the call on failure,
// as chrome.runtime.lastError is.

import { argTypeError } from '../errors';

export const runtime: { lastError: { message: string } | undefined } = { lastError: undefined };

export type Callback<T> = (result?: T) => void;

/** Runs `start` (after checking the callback) and settles it the Chrome way. */
export function settle<T>(start: () => Promise<T>, callback: unknown): Promise<T> | undefined {
  if (callback === undefined) return start();
  if (typeof callback !== 'function') {
    throw argTypeError('the callback must be a function');
  }
  const cb = callback as Callback<T>;
  start().then(
    (result) => queueMicrotask(() => cb(result)),
    (err: Error) =>
      queueMicrotask(() => {
        runtime.lastError = { message: err.message };
        try {
          cb();
        } finally {
          runtime.lastError = undefined;
        }
      }),
  );
  return undefined;
}

// Error classes of the package. Every error has a stable string `code`;
// failed system calls also carry `errno` (negative, as Node's) and `syscall`.

export class VpnError extends Error {
  readonly code: string;
  /** For batch sends: the index of the packet that was refused or failed. */
  index?: number;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VpnError';
    this.code = code;
  }
}

/** A system call failed (EPERM without CAP_NET_ADMIN, EIO on a downed link...). */
export class SystemError extends VpnError {
  readonly errno: number;
  readonly syscall: string;
  constructor(
    message: string,
    code: string,
    errno: number,
    syscall: string,
    options?: { cause?: unknown },
  ) {
    super(message, code, options);
    this.name = 'SystemError';
    this.errno = errno;
    this.syscall = syscall;
  }
}

interface NativeLike {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  index?: unknown;
}

/** `err` with a stable `code` (and the index of the entry at fault), returned for `throw`. */
export function coded<E extends Error>(err: E, code: string, index?: number): E {
  Object.assign(err, { code });
  if (index !== undefined) Object.assign(err, { index });
  return err;
}

/** A TypeError for an argument of the wrong type (Node's ERR_INVALID_ARG_TYPE). */
export const argTypeError = (message: string): TypeError =>
  coded(new TypeError(message), 'ERR_INVALID_ARG_TYPE');

/** A TypeError for an argument of the right type and a bad value (ERR_INVALID_ARG_VALUE). */
export const argValueError = (message: string): TypeError =>
  coded(new TypeError(message), 'ERR_INVALID_ARG_VALUE');

/** A RangeError for a number out of its range (ERR_OUT_OF_RANGE). */
export const rangeError = (message: string): RangeError =>
  coded(new RangeError(message), 'ERR_OUT_OF_RANGE');

/**
 * The one converter of the addon's errors into this realm's, with the
 * caller's stack (native errors raised on the threadpool have none worth
 * reading). Argument errors stay TypeErrors and RangeErrors, made anew in
 * this realm: the addon's belong to the main realm, so in a vm context (a
 * jest sandbox, an extension's) `instanceof RangeError` would fail on them.
 * A failed system call becomes a SystemError, anything else a VpnError; the
 * `code` and the `index` of a refused entry are kept.
 */
export function fromNative(err: unknown): Error {
  // Duck-typed, not instanceof: the addon's errors may come from another realm.
  if (typeof err !== 'object' || err === null || !('message' in err)) {
    return new VpnError(String(err), 'ERR_UNKNOWN');
  }
  if (err instanceof VpnError) return err;
  const e = err as NativeLike & { name?: unknown };
  const message = String(e.message);
  const index = typeof e.index === 'number' ? e.index : undefined;
  if (e.name === 'TypeError' || e.name === 'RangeError') {
    const Ctor = e.name === 'RangeError' ? RangeError : TypeError;
    if (err instanceof Ctor && err.constructor === Ctor) return err;
    const out = new Ctor(message, { cause: err });
    if (typeof e.code === 'string') coded(out, e.code, index);
    else if (index !== undefined) Object.assign(out, { index });
    Error.captureStackTrace(out, fromNative);
    return out;
  }
  const code = typeof e.code === 'string' ? e.code : 'ERR_UNKNOWN';
  let out: VpnError;
  if (typeof e.errno === 'number') {
    out = new SystemError(message, code, e.errno, String(e.syscall ?? ''), { cause: err });
  } else {
    out = new VpnError(message, code, { cause: err });
  }
  if (index !== undefined) out.index = index;
  Error.captureStackTrace(out, fromNative);
  return out;
}

/**
 * A failed file-system call of Node's (err.code EROFS, ENOSPC, EACCES...)
 * as a SystemError whose message says what we were doing and names the
 * file; anything else is returned as it is.
 */
export function fsError(err: unknown, what: string): Error {
  // Duck-typed, as in fromNative: Node's errors may come from another realm.
  const e = err as NodeJS.ErrnoException;
  if (
    typeof err !== 'object' ||
    err === null ||
    typeof e.code !== 'string' ||
    typeof e.message !== 'string' ||
    err instanceof VpnError
  ) {
    return err as Error;
  }
  const out = new SystemError(
    `${what}: ${e.message}`,
    e.code,
    typeof e.errno === 'number' ? e.errno : 0,
    e.syscall ?? '',
    { cause: err },
  );
  Error.captureStackTrace(out, fsError);
  return out;
}

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

/**
 * Turns an error from the addon into one of ours, with the caller's stack
 * (native errors raised on the threadpool have none worth reading). Type and
 * range errors from argument checks are returned as they are.
 */
export function fromNative(err: unknown): Error {
  // Duck-typed, not instanceof: the addon's errors may come from another
  // realm (a vm context, a test runner's sandbox).
  if (typeof err !== 'object' || err === null || !('message' in err)) {
    return new VpnError(String(err), 'ERR_UNKNOWN');
  }
  const e = err as NativeLike & { name?: unknown };
  if (err instanceof VpnError || e.name === 'TypeError' || e.name === 'RangeError') {
    return err as Error;
  }
  const message = String(e.message);
  const code = typeof e.code === 'string' ? e.code : 'ERR_UNKNOWN';
  let out: VpnError;
  if (typeof e.errno === 'number') {
    out = new SystemError(message, code, e.errno, String(e.syscall ?? ''), { cause: err });
  } else {
    out = new VpnError(message, code, { cause: err });
  }
  if (typeof e.index === 'number') out.index = e.index;
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

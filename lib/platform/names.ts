// The checks of names and ids callers hand the platform: configuration
// names, provider ids, interface names, enum values. One of each.
import { argTypeError, argValueError, coded } from '../errors';

/** The longest configuration name or provider id, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 255;

/**
 * A configuration name or provider id: shown by the command-line tool and
 * kept in the store, so no control characters (a name must not be able to
 * drive the terminal that lists it) and at most MAX_NAME_LENGTH characters.
 * Chrome puts no limit on them; ChromeOS shows them in its UI.
 */
export function checkName(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw argTypeError(`${what} must be a string`);
  if (value.length > MAX_NAME_LENGTH)
    throw argValueError(`${what} is longer than ${MAX_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value))
    throw argValueError(`${what} holds a control character`);
}

/**
 * An interface name as the kernel takes it (dev_valid_name): 1-15 bytes,
 * not "." or "..", no "/", ":" or whitespace; a pattern (the default) may
 * hold one "%d" for the kernel to number. The one check of them in JS (the
 * addon checks again before TUNSETIFF).
 */
export function checkInterfaceName(
  value: unknown,
  { pattern = true }: { pattern?: boolean } = {},
): asserts value is string {
  if (typeof value !== 'string') throw argTypeError('interfaceName must be a string');
  const bytes = Buffer.byteLength(value);
  const percents = (value.match(/%/g) ?? []).length;
  const bad =
    bytes < 1 || bytes > 15
      ? 'must be 1 to 15 bytes'
      : value === '.' || value === '..'
        ? 'cannot be "." or ".."'
        : // eslint-disable-next-line no-control-regex
          /[/:\s\u0000-\u001f\u007f]/.test(value)
          ? 'cannot hold "/", ":", whitespace or control characters'
          : !pattern && percents > 0
            ? 'cannot hold "%"'
            : percents > (value.includes('%d') ? 1 : 0)
              ? 'may hold one "%d" and no other "%"'
              : null;
  if (bad)
    throw coded(
      new TypeError(`interfaceName ${bad}: ${JSON.stringify(value)}`),
      'ERR_INVALID_INTERFACE_NAME',
    );
}

export function checkIds(providerId: unknown, configId: unknown): void {
  if (typeof providerId !== 'string') throw argTypeError('providerId must be a string');
  if (typeof configId !== 'string') throw argTypeError('configId must be a string');
}

export function checkEnum(what: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== 'string' || !allowed.includes(value))
    throw argValueError(`${what} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
}

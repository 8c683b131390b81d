// Chrome's error strings for vpnProvider, exact, with stable codes.
import { VpnError } from '../errors';

export const CHROME_ERRORS = {
  ERR_EMPTY_NAME: 'Empty name not supported.',
  ERR_NAME_NOT_UNIQUE: 'Name not unique.',
  ERR_UNAUTHORIZED: 'Unauthorized access.',
  ERR_PENDING_CREATE: 'Pending create.',
  ERR_ADDRESS_SANITY: 'Address CIDR sanity check failed.',
  ERR_EXCLUSION_SANITY: 'Exclusion list CIDR sanity check failed.',
  ERR_INCLUSION_SANITY: 'Inclusion list CIDR sanity check failed.',
  ERR_DNS_SANITY: 'DNS server IP sanity check failed.',
  /** Ours: the dual-stack extension's first-stage check. */
  ERR_IPV6_ADDRESS_SANITY: 'IPv6 address CIDR sanity check failed.',
  ERR_EMPTY_PACKET: "Can't send an empty packet.",
} as const;

export type ChromeErrorCode = keyof typeof CHROME_ERRORS;

/** An error Chrome's API would give, with its exact message. */
export class ChromeError extends VpnError {
  constructor(code: ChromeErrorCode) {
    super(CHROME_ERRORS[code], code);
    this.name = 'ChromeError';
  }
}

/** The ChromeError for one of Chrome's messages (the sanity-check ones). */
export function chromeErrorFor(message: string): ChromeError {
  const code = (Object.keys(CHROME_ERRORS) as ChromeErrorCode[]).find(
    (k) => CHROME_ERRORS[k] === message,
  );
  if (!code) throw new Error(`not a Chrome error message: ${message}`);
  return new ChromeError(code);
}

// setParameters validation, in Chrome's order:
//   1. Chrome's character check (CheckIPCIDRSanity in vpn_provider_api.cc),
//      bit for bit, on the address, each exclusion, each inclusion, each DNS
//      server; the first failure is the error. Our one extension: a valid
//      IPv6 CIDR (or IPv6 address for DNS) passes too.
//   2. (ownership: checked by the caller)
//   3. Full validation, as ChromeOS's shill does (third_party_vpn_driver.cc):
//      every problem is reported, joined; bad or duplicate list entries are
//      dropped with a warning. Exclusions are read first and both lists share
//      one set of seen networks, so a network in both lists stays excluded.
import * as net from 'node:net';
import { argTypeError } from '../errors';

/** Chrome's vpnProvider.Parameters; every value a string, as in Chrome. */
export interface Parameters {
  /** "10.10.10.10/24" (or, our extension, "2001:db8::2/64"). */
  address: string;
  broadcastAddress?: string;
  /** Decimal string, 576..65535 (default 1500). */
  mtu?: string;
  exclusionList: string[];
  inclusionList: string[];
  domainSearch?: string[];
  dnsServers: string[];
  /** "true" or "false" (default "false"). */
  reconnect?: string;
  /** Our extension, for a dual-stack tunnel: "2001:db8::2/64" next to an IPv4 address. */
  ipv6Address?: string;
  /**
   * Our extension (Android's lockdown, Apple's includeAllNetworks): "true"
   * refuses every packet that would leave outside the tunnel while the
   * session is up, except the exclusion list's networks and protected
   * sockets (default "false").
   */
  blockOutside?: string;
  /**
   * Our extension (Apple's matchDomains, resolved's routing domains): only
   * names under these domains go to the tunnel's DNS servers; needs the
   * systemd-resolved backend.
   */
  dnsMatchDomains?: string[];
  /**
   * Our extension (Android's allowed applications, per user on Linux): only
   * these users' traffic uses the tunnel. A uid or an inclusive [first, last]
   * range each. Not with disallowedUids.
   */
  allowedUids?: (number | [number, number])[];
  /** Our extension (Android's disallowed applications): all users' traffic but these uids'. */
  disallowedUids?: (number | [number, number])[];
  /** Our extension: the TUN device's transmit queue, decimal 1..100000 (default 1000; the kernel's own is 500). */
  txQueueLength?: string;
}

export interface Cidr {
  family: 4 | 6;
  /** The network, host bits cleared ("10.1.0.0"). */
  network: string;
  prefixLength: number;
  /** As the provider wrote it. */
  text: string;
}

export interface ValidParameters {
  family: 4 | 6;
  address: string;
  prefixLength: number;
  broadcast?: string;
  mtu: number;
  exclusions: Cidr[];
  inclusions: Cidr[];
  dnsServers: string[];
  domainSearch: string[];
  reconnect: boolean;
  /** The dual-stack IPv6 address (our extension). */
  ipv6?: { address: string; prefixLength: number };
  blockOutside: boolean;
  txQueueLength: number;
  dnsMatchDomains: string[];
  /**
   * The uid ranges whose traffic skips the tunnel (from disallowedUids, or
   * the complement of allowedUids), sorted and merged; empty: nobody skips.
   */
  bypassUids: [number, number][];
  /** As given, for status. */
  allowedUids?: [number, number][];
  disallowedUids?: [number, number][];
  warnings: string[];
}

export const MTU_DEFAULT = 1500;
/** The TUN device's transmit queue unless txQueueLength says otherwise (wireguard-go and Tailscale raise the kernel's 500 too). */
export const TX_QUEUE_DEFAULT = 1000;

// Chrome's CheckIPCIDRSanity for IPv4 (ipv6 = false): digits, exactly three
// '.', and with cidr exactly one '/' with a digit on each side. No ranges.
export function chromeSanity(value: string, cidr: boolean): boolean {
  let dots = 3;
  let sep = cidr ? 1 : 0;
  let counter = 0;
  for (const ch of value) {
    if (ch >= '0' && ch <= '9') {
      counter++;
      continue;
    }
    if (ch === '.') {
      if (!dots) return false;
      dots--;
    } else if (ch === '/') {
      if (!sep || dots || !counter) return false;
      sep--;
      counter = 0;
    } else {
      return false;
    }
  }
  return !sep && !dots && counter > 0;
}

/** Chrome's check, or a syntactically valid IPv6 CIDR / address (our extension). */
export function sane(value: string, cidr: boolean): boolean {
  return chromeSanity(value, cidr) || parseIpv6(value, cidr) !== null;
}

// A zone (fe80::1%eth0) is an address of a DNS server, never of a
// tunnel or a route: the kernel's and our parsers refuse it there.
function parseIpv6(value: string, cidr: boolean): { address: string; prefixLength: number } | null {
  if (!cidr) return net.isIPv6(value) ? { address: value, prefixLength: 128 } : null;
  const slash = value.indexOf('/');
  if (slash < 0) return null;
  const address = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (address.includes('%') || !net.isIPv6(address)) return null;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > 128) return null;
  return { address, prefixLength: Number(bits) };
}

/** Chrome's first-stage error message, or null when every value passes. */
export function sanityError(p: Parameters): string | null {
  if (!sane(p.address, true)) return 'Address CIDR sanity check failed.';
  if (p.ipv6Address !== undefined && !parseIpv6(p.ipv6Address, true))
    return 'IPv6 address CIDR sanity check failed.';
  for (const e of p.exclusionList)
    if (!sane(e, true)) return 'Exclusion list CIDR sanity check failed.';
  for (const e of p.inclusionList)
    if (!sane(e, true)) return 'Inclusion list CIDR sanity check failed.';
  for (const d of p.dnsServers) if (!sane(d, false)) return 'DNS server IP sanity check failed.';
  return null;
}

const PARAMETER_KEYS = new Set<string>([
  'address',
  'broadcastAddress',
  'mtu',
  'exclusionList',
  'inclusionList',
  'domainSearch',
  'dnsServers',
  'reconnect',
  'ipv6Address',
  'blockOutside',
  'txQueueLength',
  'dnsMatchDomains',
  'allowedUids',
  'disallowedUids',
] satisfies (keyof Parameters)[]);

/**
 * Throws a TypeError for a value of the wrong shape (code
 * ERR_INVALID_ARG_TYPE) or a property Parameters does not have (code
 * ERR_UNEXPECTED_PROPERTY, Chrome's message, `property` naming it).
 */
export function checkTypes(p: unknown): asserts p is Parameters {
  const fail = (what: string): never => {
    throw argTypeError(`setParameters: ${what}`);
  };
  if (typeof p !== 'object' || p === null || Array.isArray(p)) fail('parameters must be an object');
  const o = p as Record<string, unknown>;
  // Chrome's schema check refuses a property Parameters does not have (a
  // misspelt "ipv6address" would otherwise set nothing and say nothing).
  for (const k of Object.keys(o)) {
    if (!PARAMETER_KEYS.has(k) && o[k] !== undefined) {
      throw Object.assign(
        new TypeError(
          `Error in invocation of vpnProvider.setParameters(vpnProvider.Parameters parameters, optional function callback): Error at parameter 'parameters': Unexpected property: '${k}'.`,
        ),
        { code: 'ERR_UNEXPECTED_PROPERTY', property: k },
      );
    }
  }
  if (typeof o.address !== 'string') fail('address must be a string');
  for (const k of ['exclusionList', 'inclusionList', 'dnsServers']) {
    const v = o[k];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      fail(`${k} must be an array of strings`);
    if ((v as string[]).length > 1_000_000) fail(`${k} has more than 1000000 entries`);
  }
  for (const k of [
    'broadcastAddress',
    'mtu',
    'reconnect',
    'ipv6Address',
    'blockOutside',
    'txQueueLength',
  ]) {
    if (o[k] !== undefined && typeof o[k] !== 'string') fail(`${k} must be a string`);
  }
  for (const k of ['allowedUids', 'disallowedUids']) {
    const v = o[k];
    if (v === undefined) continue;
    const uid = (x: unknown) => typeof x === 'number';
    if (
      !Array.isArray(v) ||
      !v.every((x) => uid(x) || (Array.isArray(x) && x.length === 2 && x.every(uid)))
    )
      fail(`${k} must be an array of uids and [first, last] ranges`);
  }
  if (o.dnsMatchDomains !== undefined) {
    const v = o.dnsMatchDomains;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      fail('dnsMatchDomains must be an array of strings');
  }
  if (o.domainSearch !== undefined) {
    const v = o.domainSearch;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      fail('domainSearch must be an array of strings');
  }
}

const DECIMAL = /^(0|[1-9]\d{0,9})$/;
/** The largest uid a rule can name ((uid_t)-1 means "none"). */
const MAX_UID = 0xfffffffe;

/** Sorted, with overlapping and adjacent ranges joined. */
function mergeRanges(rs: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of [...rs].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The uids 0..MAX_UID outside the given (merged) ranges. */
function complement(rs: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let next = 0;
  for (const [a, b] of rs) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= MAX_UID) out.push([next, MAX_UID]);
  return out;
}
/** A search domain as DNS allows it: labels of letters, digits and hyphens. */
export function validDomain(d: string): boolean {
  return (
    d.length > 0 &&
    d.length <= 253 &&
    d.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l) || l === '')
  );
}

/**
 * An IPv4 dotted quad with each part 0..255, in decimal without leading
 * zeros (as inet_pton reads it, and shill with it: "010.1.1.1" is not an
 * address; inet_aton, which resolvers use, would read 010 as octal 8).
 */
function parseIpv4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    out.push(Number(p));
  }
  return out;
}

/**
 * "a.b.c.d/n" as one unsigned number and n, by hand (lists run to 100k
 * entries: this is ~5x faster than split and regexes); null if not exactly
 * that form: four parts of 1-3 digits up to 255 without leading zeros, a
 * prefix of 1-2 digits.
 */
function scanIpv4Cidr(text: string): { value: number; prefixLength: number } | null {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && part === 0) return null; // a leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return null;
    } else if (c === 46 /* . */ && digits > 0 && dots < 3) {
      value = value * 256 + part;
      part = digits = 0;
      dots++;
    } else if (c === 47 /* / */ && digits > 0 && dots === 3) {
      break;
    } else {
      return null;
    }
  }
  if (i === text.length) return null;
  value = value * 256 + part;
  const bits = text.length - i - 1;
  if (bits < 1 || bits > 2) return null;
  const d0 = text.charCodeAt(i + 1) - 48;
  const d1 = bits === 2 ? text.charCodeAt(i + 2) - 48 : 0;
  if (d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || (bits === 2 && d0 === 0)) return null;
  const prefixLength = bits === 2 ? d0 * 10 + d1 : d0;
  if (prefixLength > 32) return null;
  return { value, prefixLength };
}

/** Parses a CIDR as shill does (strict), host bits cleared. */
export function parseCidr(text: string): Cidr | null {
  const v4 = scanIpv4Cidr(text);
  if (v4) {
    const { prefixLength } = v4;
    const value = prefixLength === 0 ? 0 : (v4.value & (~0 << (32 - prefixLength))) >>> 0;
    return {
      family: 4,
      network: `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`,
      prefixLength,
      text,
    };
  }
  const slash = text.indexOf('/');
  if (slash < 0 || !DECIMAL.test(text.slice(slash + 1))) return null;
  const prefixLength = Number(text.slice(slash + 1));
  const v6 = parseIpv6(text, true);
  if (!v6) return null;
  return { family: 6, network: maskIpv6(v6.address, prefixLength), prefixLength, text };
}

function ipv6Bytes(address: string): number[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const expand = (gs: string[]) =>
    gs.flatMap((g) => {
      if (g.includes('.')) {
        const v4 = parseIpv4(g)!;
        return [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
      }
      return [parseInt(g, 16)];
    });
  const hw = expand(groups(head));
  const tw = expand(groups(tail));
  const words =
    tail === undefined ? hw : [...hw, ...Array(8 - hw.length - tw.length).fill(0), ...tw];
  return words.flatMap((w) => [w >> 8, w & 255]);
}

function maskIpv6(address: string, prefixLength: number): string {
  const b = ipv6Bytes(address);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefixLength - 8 * i));
    b[i] &= keep === 8 ? 255 : (0xff00 >> keep) & 255;
  }
  const words = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  return ipv6Text(words);
}

/** RFC 5952 text of eight 16-bit words: the longest run of two or more zero words as "::". */
function ipv6Text(words: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/**
 * Full validation (after the sanity check and ownership). `errors` is the
 * joined fragments ("" when valid); warnings never fail the call.
 */
export function validate(p: Parameters): { errors: string; value?: ValidParameters } {
  let errors = '';
  const warnings: string[] = [];

  const slash = p.address.indexOf('/');
  const addr = p.address.slice(0, slash);
  const prefixText = p.address.slice(slash + 1);
  const family: 4 | 6 = net.isIPv6(addr) ? 6 : 4;
  const maxPrefix = family === 4 ? 32 : 128;
  if (!(family === 6 || parseIpv4(addr))) errors += 'address is not a valid IP;';
  const prefixLength = Number(prefixText);
  if (!DECIMAL.test(prefixText) || prefixLength > maxPrefix)
    errors += 'subnet_prefix not in expected range;';

  let ipv6: ValidParameters['ipv6'];
  if (p.ipv6Address !== undefined) {
    if (family !== 4) errors += 'ipv6_address goes with an IPv4 address;';
    else ipv6 = parseIpv6(p.ipv6Address, true) ?? undefined;
  }

  let broadcast: string | undefined;
  if (p.broadcastAddress !== undefined) {
    if (!parseIpv4(p.broadcastAddress)) errors += 'broadcast_address is not a valid IP;';
    else broadcast = p.broadcastAddress;
  }

  let mtu = MTU_DEFAULT;
  if (p.mtu !== undefined) {
    const m = DECIMAL.test(p.mtu) ? Number(p.mtu) : NaN;
    if (Number.isNaN(m)) errors += 'mtu is not a decimal number;';
    else if (!(m >= 576 && m <= 65535)) errors += 'mtu not in expected range;';
    else mtu = m;
  }

  let domainSearch: string[] = [];
  if (p.domainSearch !== undefined) {
    const seen = new Set<string>();
    for (const d of p.domainSearch.map((x) => x.trim())) {
      if (d && !seen.has(d)) {
        seen.add(d);
        domainSearch.push(d);
      }
    }
    if (domainSearch.length === 0) errors += 'domain_search has no valid values or is empty;';
  } else {
    domainSearch = [];
  }

  const dnsServers: string[] = [];
  for (const d of p.dnsServers) {
    if (parseIpv4(d) || net.isIPv6(d)) dnsServers.push(d);
    else warnings.push(`${d} for dns_servers is invalid;`);
  }

  const seen = new Set<string>();
  const readList = (list: string[], key: string): Cidr[] => {
    const out: Cidr[] = [];
    for (const text of list) {
      const c = parseCidr(text);
      if (!c) {
        warnings.push(`${text} for ${key} is invalid;`);
        continue;
      }
      const k = `${c.family}|${c.network}/${c.prefixLength}`;
      if (seen.has(k)) {
        warnings.push(`Duplicate entry for ${text} in ${key} found;`);
        continue;
      }
      seen.add(k);
      out.push(c);
    }
    return out;
  };
  const exclusions = readList(p.exclusionList, 'exclusion_list');

  let reconnect = false;
  if (p.reconnect !== undefined) {
    if (p.reconnect === 'true') reconnect = true;
    else if (p.reconnect !== 'false') errors += 'reconnect not a valid boolean;';
  }

  const inclusions = readList(p.inclusionList, 'inclusion_list');

  let blockOutside = false;
  if (p.blockOutside !== undefined) {
    if (p.blockOutside === 'true') blockOutside = true;
    else if (p.blockOutside !== 'false') errors += 'block_outside not a valid boolean;';
  }

  // Each a domain name (a trailing dot allowed), lower-cased, once.
  const dnsMatchDomains: string[] = [];
  for (const d of p.dnsMatchDomains ?? []) {
    const name = d.trim().toLowerCase().replace(/\.$/, '');
    if (!validDomain(name) || name.split('.').includes(''))
      errors += `${d} for dns_match_domains is invalid;`;
    else if (!dnsMatchDomains.includes(name)) dnsMatchDomains.push(name);
  }
  if (dnsMatchDomains.length > 0 && dnsServers.length === 0)
    errors += 'dns_match_domains needs dns_servers;';

  // Users: uid ranges, merged; what skips the tunnel is the disallowed
  // ranges, or everything outside the allowed ones.
  const ranges = (list: (number | [number, number])[] | undefined, name: string) => {
    if (list === undefined) return undefined;
    const out: [number, number][] = [];
    for (const x of list) {
      const [a, b] = typeof x === 'number' ? [x, x] : x;
      if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && a <= b && b <= MAX_UID)) {
        errors += `${JSON.stringify(x)} for ${name} is invalid;`;
        continue;
      }
      out.push([a, b]);
    }
    return mergeRanges(out);
  };
  const allowedUids = ranges(p.allowedUids, 'allowed_uids');
  const disallowedUids = ranges(p.disallowedUids, 'disallowed_uids');
  if (allowedUids && disallowedUids)
    errors += 'allowed_uids and disallowed_uids cannot both be given;';
  if (allowedUids && allowedUids.length === 0 && p.allowedUids!.length === 0)
    errors += 'allowed_uids is empty;';
  const bypassUids: [number, number][] = disallowedUids ?? complement(allowedUids ?? []);

  let txQueueLength = TX_QUEUE_DEFAULT;
  if (p.txQueueLength !== undefined) {
    const q = DECIMAL.test(p.txQueueLength) ? Number(p.txQueueLength) : NaN;
    if (Number.isNaN(q)) errors += 'tx_queue_length is not a decimal number;';
    else if (!(q >= 1 && q <= 100000)) errors += 'tx_queue_length not in expected range;';
    else txQueueLength = q;
  }

  if (errors) return { errors };
  return {
    errors,
    value: {
      family,
      address: addr,
      prefixLength,
      broadcast,
      mtu,
      exclusions,
      inclusions,
      dnsServers,
      domainSearch,
      reconnect,
      ipv6,
      blockOutside,
      txQueueLength,
      dnsMatchDomains,
      bypassUids: allowedUids === undefined && disallowedUids === undefined ? [] : bypassUids,
      ...(allowedUids ? { allowedUids } : {}),
      ...(disallowedUids ? { disallowedUids } : {}),
      warnings,
    },
  };
}

// Fuzzing the setParameters validator (lib/provider/validate.ts). It is
// TypeScript, so a native fuzz target cannot reach it; this is a fuzzer in
// JS with a seeded PRNG: structure-aware generation of parameters (valid
// and broken addresses, CIDRs, lists, wrong types, huge strings), run
// through the steps of setParameters in Chrome's order, against
// properties any answer must have, and against the native CIDR parser
// (native/route/cidr.cc) that the rest of the session relies on: whatever
// the validator accepts must be accepted by the C++ side too, else
// setParameters would pass validation and then fail while applying.
//
// npm test runs a fixed number of inputs from a new seed each run, after
// replaying every input kept in test/fuzz/validate/ (regression inputs of
// bugs found); the seed is in the test's title and in a failure's message,
// and VPN_FUZZ_SEED=N replays it. `npm run fuzz -- --targets validate
// --seconds N` runs for N seconds (VPN_FUZZ_SECONDS; VPN_FUZZ_INPUTS: a
// number of inputs), and writes a failing input to
// test/fuzz/validate/crash-<sha1>.json.
import { createHash, randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { RouteTable } from '../../lib';
import { CHROME_ERRORS } from '../../lib/provider/errors';
import { checkTypes, sanityError, validate } from '../../lib/provider/validate';
import { Random } from '../helpers/random';

const KEPT = path.join(__dirname, '..', 'fuzz', 'validate');
const seconds = Number(process.env.VPN_FUZZ_SECONDS ?? 0);
const INPUTS = Number(process.env.VPN_FUZZ_INPUTS ?? 2000); // npm test: ~4 s
const SEED =
  process.env.VPN_FUZZ_SEED !== undefined
    ? Number(process.env.VPN_FUZZ_SEED)
    : randomInt(2 ** 31 - 1);
if (!Number.isSafeInteger(SEED)) throw new Error(`VPN_FUZZ_SEED is not an integer: ${SEED}`);

// ------------------------------------------------------------ generation

const HEX = '0123456789abcdefABCDEF';

// How often broken pieces are made: every input draws whether it is noisy
// (all rates as written) or clean (1/100 of them), so that half the inputs
// get past the sanity checks to validation and to the C++ parser.
let noise = 1;
const bad = (r: Random, p: number) => r.chance(p * noise);
const NOISE = '0123456789abcdef.:/%- +x\u0000\u00e9\n\t[]';

function octet(r: Random): string {
  if (bad(r, 0.05)) return r.pick(['256', '999', '', '-1', '1e2', '0x1', ' 1']);
  const v = r.chance(0.3) ? r.pick([0, 1, 10, 127, 128, 192, 254, 255]) : r.int(256);
  return bad(r, 0.05) ? `0${v}` : String(v); // leading zeros, now and then
}

function ipv4(r: Random): string {
  const n = bad(r, 0.05) ? r.pick([3, 5]) : 4;
  return Array.from({ length: n }, () => octet(r)).join('.');
}

function group(r: Random): string {
  const n = bad(r, 0.03) ? 5 : 1 + r.int(4);
  return Array.from({ length: n }, () => r.pick([...HEX])).join('');
}

function ipv6(r: Random): string {
  const n = bad(r, 0.05) ? 9 : r.int(9);
  const gs = Array.from({ length: n }, () => group(r));
  if (r.chance(0.15) && gs.length <= 6) gs.push(ipv4(r)); // a dotted quad tail
  let s: string;
  if (n < 8 || r.chance(0.1)) {
    const at = r.int(gs.length + 1);
    s = `${gs.slice(0, at).join(':')}::${gs.slice(at).join(':')}`;
  } else {
    s = gs.join(':');
  }
  if (bad(r, 0.03)) s += r.pick(['%eth0', '%1', '%']);
  return s;
}

function prefixLength(r: Random, max: number): string {
  if (bad(r, 0.06)) return r.pick(['', '-1', '033', '00', '1.5', ' 8', '999', '+8']);
  return String(r.chance(0.3) ? r.pick([0, max, max - 1, 8, 16, 24, 64]) : r.int(max + 1));
}

function mutate(r: Random, s: string): string {
  let out = s;
  for (let i = r.int(3); i >= 0; i--) {
    const at = r.int(out.length + 1);
    const c = r.pick([...NOISE]);
    const op = r.int(3);
    if (op === 0) out = out.slice(0, at) + c + out.slice(at);
    else if (op === 1) out = out.slice(0, at) + out.slice(at + 1);
    else out = out.slice(0, at) + c + out.slice(at + 1);
  }
  return out;
}

function cidr(r: Random): string {
  const v6 = r.chance(0.35);
  let s = `${v6 ? ipv6(r) : ipv4(r)}/${prefixLength(r, v6 ? 128 : 32)}`;
  if (bad(r, 0.1)) s = mutate(r, s);
  return s;
}

function ip(r: Random): string {
  let s = r.chance(0.35) ? ipv6(r) : ipv4(r);
  if (bad(r, 0.1)) s = mutate(r, s);
  return s;
}

function wrongType(r: Random): unknown {
  return r.pick([0, 1.5, NaN, -Infinity, null, undefined, true, {}, [], () => 1, Symbol('x'), 10n]);
}

function list(r: Random, item: () => string): unknown {
  if (bad(r, 0.03)) return wrongType(r);
  const n = r.chance(0.01) ? 2000 + r.int(2000) : r.chance(0.5) ? r.int(4) : r.int(40);
  return Array.from({ length: n }, () => (bad(r, 0.01) ? wrongType(r) : item()));
}

function maybe(r: Random, p: number, make: () => unknown): unknown {
  if (!r.chance(p)) return undefined;
  return bad(r, 0.03) ? wrongType(r) : make();
}

function huge(r: Random): string {
  return r.pick(['1', '1.', ':', '/']).repeat(1 + r.int(1 << 20));
}

function parameters(r: Random): unknown {
  noise = r.chance(0.5) ? 1 : 0.01;
  if (bad(r, 0.01)) return wrongType(r);
  const p: Record<string, unknown> = {
    address: bad(r, 0.02) ? wrongType(r) : bad(r, 0.005) ? huge(r) : cidr(r),
    exclusionList: list(r, () => cidr(r)),
    inclusionList: list(r, () => (r.chance(0.1) ? r.pick(['0.0.0.0/0', '::/0']) : cidr(r))),
    dnsServers: list(r, () => ip(r)),
    mtu: maybe(r, 0.4, () =>
      r.pick(['1500', '576', '575', '65535', '65536', '01500', '+1500', '1e3', '', ' 1500', 'NaN']),
    ),
    broadcastAddress: maybe(r, 0.3, () => ip(r)),
    reconnect: maybe(r, 0.3, () => r.pick(['true', 'false', 'TRUE', '', '1', 'yes'])),
    domainSearch: maybe(r, 0.3, () =>
      list(r, () => r.pick(['example.com', 'corp', ' ', '', 'a b', 'x.y.', '-bad-', 'é.fr'])),
    ),
    ipv6Address: maybe(r, 0.15, () => cidr(r)),
  };
  for (const k of Object.keys(p)) {
    if (p[k] === undefined || (r.chance(0.01) && k !== 'address')) delete p[k];
  }
  if (r.chance(0.01)) delete p.address;
  return p;
}

// ---------------------------------------------------------------- oracle

const SANITY = new Set<string>(Object.values(CHROME_ERRORS));
const FRAGMENTS = [
  'address is not a valid IP;',
  'subnet_prefix not in expected range;',
  'ipv6_address goes with an IPv4 address;',
  'broadcast_address is not a valid IP;',
  'mtu not in expected range;',
  'mtu is not a decimal number;',
  'domain_search has no valid values or is empty;',
  'reconnect not a valid boolean;',
  'block_outside not a valid boolean;',
  'tx_queue_length is not a decimal number;',
  'tx_queue_length not in expected range;',
  'dns_match_domains needs dns_servers;',
  'allowed_uids and disallowed_uids cannot both be given;',
  'allowed_uids is empty;',
];

/** The native parser's canonical form of a CIDR, or null where it refuses it. */
function nativeCidr(text: string): string | null {
  try {
    return RouteTable.normalize(text);
  } catch (err) {
    const e = err as { code?: string };
    if (e.code !== 'ERR_INVALID_CIDR') throw err;
    return null;
  }
}

type Outcome = 'type' | 'sanity' | 'invalid' | 'accepted';

/**
 * Runs p through setParameters' checks in Chrome's order; throws an Error
 * saying which property broke, else says where the input was stopped.
 */
function check(p: unknown): Outcome {
  try {
    checkTypes(p);
  } catch (err) {
    const e = err as { code?: string };
    if (
      !(err instanceof TypeError) ||
      (e.code !== 'ERR_INVALID_ARG_TYPE' && e.code !== 'ERR_UNEXPECTED_PROPERTY')
    ) {
      throw new Error(`checkTypes threw something else: ${String(err)}`);
    }
    return 'type';
  }
  const sanity = sanityError(p);
  if (sanity !== null) {
    if (!SANITY.has(sanity)) throw new Error(`not one of Chrome's messages: ${sanity}`);
    return 'sanity';
  }
  const { errors, value } = validate(p);
  if (errors) {
    if (value) throw new Error('errors and a value');
    if (!errors.endsWith(';')) throw new Error(`errors do not end with ';': ${errors}`);
    for (const f of errors.slice(0, -1).split(';')) {
      if (!FRAGMENTS.includes(`${f};`)) throw new Error(`unknown error fragment: ${f}`);
    }
    return 'invalid';
  }
  if (!value) throw new Error('no errors and no value');
  const max = value.family === 4 ? 32 : 128;
  if (!(value.prefixLength >= 0 && value.prefixLength <= max)) throw new Error('prefix range');
  if (!(value.mtu >= 576 && value.mtu <= 65535)) throw new Error('mtu range');
  // What the session hands to the kernel and to RouteTable must parse natively.
  if (nativeCidr(`${value.address}/${value.prefixLength}`) === null)
    throw new Error(`accepted address ${value.address}/${value.prefixLength} that C++ refuses`);
  if (value.ipv6 && nativeCidr(`${value.ipv6.address}/${value.ipv6.prefixLength}`) === null)
    throw new Error(`accepted ipv6Address ${value.ipv6.address} that C++ refuses`);
  if (value.broadcast !== undefined && nativeCidr(`${value.broadcast}/32`) === null)
    throw new Error(`accepted broadcast ${value.broadcast} that C++ refuses`);
  // DNS servers go to resolvectl or resolv.conf, whose writer checks them with net.isIP.
  for (const d of value.dnsServers) {
    if (!net.isIP(d)) throw new Error(`accepted DNS server ${d} that the DNS backend refuses`);
  }
  const seen = new Map<string, string>();
  for (const [name, cidrs] of [
    ['exclusion', value.exclusions],
    ['inclusion', value.inclusions],
  ] as const) {
    for (const c of cidrs) {
      const key = nativeCidr(`${c.network}/${c.prefixLength}`);
      if (key === null) throw new Error(`accepted ${c.text} as ${c.network}, which C++ refuses`);
      // The entry as written names the same network, in C++ too.
      const asWritten = nativeCidr(c.text);
      if (asWritten === null) throw new Error(`accepted ${c.text}, which C++ refuses`);
      if (asWritten !== key) throw new Error(`${c.text}: ${key} here, ${asWritten} in C++`);
      // One entry per network across both lists (the exclusion wins).
      if (seen.has(key)) throw new Error(`${key} kept twice (${seen.get(key)} and ${name})`);
      seen.set(key, name);
    }
  }
  return 'accepted';
}

// ------------------------------------------------------ inputs on disk

// JSON with the values JSON lacks, so that any input can be kept.
function encode(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x: unknown) => {
      if (typeof x === 'number' && !Number.isFinite(x)) return { $: String(x) };
      if (x === undefined) return { $: 'undefined' };
      if (typeof x === 'bigint') return { $: `${x}n` };
      if (typeof x === 'function' || typeof x === 'symbol') return { $: typeof x };
      return x;
    },
    1,
  );
}

function decode(text: string): unknown {
  return JSON.parse(text, (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === 1) {
      const tag = (x as { $?: unknown }).$;
      if (tag === 'NaN') return NaN;
      if (tag === 'Infinity') return Infinity;
      if (tag === '-Infinity') return -Infinity;
      if (tag === 'undefined') return undefined;
      if (tag === 'function') return () => 1;
      if (tag === 'symbol') return Symbol('x');
      if (typeof tag === 'string' && tag.endsWith('n')) return BigInt(tag.slice(0, -1));
    }
    return x;
  });
}

const keptInputs = fs.existsSync(KEPT)
  ? fs.readdirSync(KEPT).filter((f) => f.endsWith('.json'))
  : [];

test('test/fuzz/validate/ holds the inputs of the bugs found before', () => {
  // Four are in git: an empty list means they were lost, not that all is well.
  expect(keptInputs.length).toBeGreaterThanOrEqual(4);
});

test.each(keptInputs)('kept input %s', (file) => {
  check(decode(fs.readFileSync(path.join(KEPT, file), 'utf8')));
});

const title =
  seconds > 0
    ? `fuzz for ${seconds} s, seed ${SEED} (replay: VPN_FUZZ_SEED=${SEED})`
    : `${INPUTS} generated inputs, seed ${SEED} (replay: VPN_FUZZ_SEED=${SEED})`;

test(title, () => {
  console.log(`validate fuzzer: seed ${SEED} (VPN_FUZZ_SEED=${SEED} replays this run)`);
  const r = new Random(SEED);
  const deadline = Date.now() + seconds * 1000;
  let execs = 0;
  const outcomes: Record<Outcome, number> = { type: 0, sanity: 0, invalid: 0, accepted: 0 };
  for (;;) {
    if (seconds > 0 ? Date.now() >= deadline : execs >= INPUTS) break;
    const p = parameters(r);
    execs++;
    try {
      outcomes[check(p)]++;
    } catch (err) {
      const text = encode(p);
      let where = '';
      if (seconds > 0 || process.env.VPN_FUZZ_INPUTS !== undefined) {
        const sha = createHash('sha1').update(text).digest('hex');
        const file = path.join(KEPT, `crash-${sha}.json`);
        fs.mkdirSync(KEPT, { recursive: true });
        fs.writeFileSync(file, text + '\n');
        where = ` (kept as ${path.relative(process.cwd(), file)})`;
      }
      throw new Error(
        `seed ${SEED} (replay: VPN_FUZZ_SEED=${SEED}), input ${execs}: ${(err as Error).message}${where}\n${text.slice(0, 2000)}`,
      );
    }
  }
  if (process.env.VPN_FUZZ_REPORT) {
    fs.writeFileSync(
      process.env.VPN_FUZZ_REPORT,
      JSON.stringify({ execs, seed: SEED, inputs: keptInputs.length, outcomes }),
    );
  }
  // Every stage was reached, the acceptance checks against C++ most of all:
  // a generator that only made garbage would check nothing.
  expect(execs).toBe(seconds > 0 ? execs : INPUTS);
  expect(outcomes.type).toBeGreaterThan(0);
  expect(outcomes.sanity).toBeGreaterThan(0);
  expect(outcomes.invalid).toBeGreaterThan(0);
  expect(outcomes.accepted).toBeGreaterThan(execs / 20);
});

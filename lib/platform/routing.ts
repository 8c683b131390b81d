// The session's routes, programmed as ChromeOS does it on Linux terms: a
// routing table of the session's own, with inclusions as routes through the
// TUN device and exclusions as `throw` routes (the lookup falls through to
// the next rule, i.e. the main table), consulted by a policy rule placed
// before the main table's. A destination that matches neither list falls
// through too: no default route unless 0.0.0.0/0 or ::/0 is included.
//
// The same lists become a RouteTable (inclusion 1, exclusion 0) that
// classifies packets in-process and agrees with the kernel.
import { fromNative, VpnError } from '../errors';
import {
  native,
  ROUTE_BLACKHOLE,
  ROUTE_PROHIBIT,
  ROUTE_THROW,
  ROUTE_UNICAST,
  type RuleSpec,
} from '../native';
import type { Cidr, ValidParameters } from '../provider/validate';
import { RouteTable } from '../route';

export const INCLUDED = 1;
export const EXCLUDED = 0;

export interface RoutingOptions {
  /** Routing table id of the session (default 30100). */
  table: number;
  /** Priority of the rule that consults it (default 30100, before main's 32766). */
  priority: number;
}

/** The session's routing, and the mark its rules let pass (protected sockets). */
export interface SessionRoutingOptions extends RoutingOptions {
  fwmark: number;
}

export const DEFAULT_ROUTING: RoutingOptions = { table: 30100, priority: 30100 };

const key = (c: Cidr) => `${c.network}/${c.prefixLength}`;

/** What the kernel gets for the lists: cidrs and route types, and the rule families. */
export function plan(p: ValidParameters): {
  cidrs: string[];
  types: number[];
  families: Set<4 | 6>;
} {
  const cidrs: string[] = [];
  const types: number[] = [];
  const seen = new Set<string>();
  // A network the lists already name keeps the lists' meaning.
  const add = (cidr: string, type: number) => {
    if (seen.has(cidr)) return;
    seen.add(cidr);
    cidrs.push(cidr);
    types.push(type);
  };
  for (const c of p.inclusions) add(key(c), ROUTE_UNICAST);
  for (const c of p.exclusions) add(key(c), ROUTE_THROW);
  // A full IPv4 tunnel with no IPv6 address: IPv6 would leak around it, so it is
  // dropped, as ChromeOS does, except link-local and multicast, which the
  // local network needs and which never leave it.
  const fullV4 = p.inclusions.some((c) => c.family === 4 && c.prefixLength === 0);
  const anyV6Default = p.inclusions.some((c) => c.family === 6 && c.prefixLength === 0);
  const guardV6 = p.family === 4 && !p.ipv6 && fullV4 && !anyV6Default;
  if (guardV6) {
    add('::/0', ROUTE_BLACKHOLE);
    add('fe80::/10', ROUTE_THROW);
    add('ff00::/8', ROUTE_THROW);
  }
  // The kill switch (blockOutside): whatever neither list names is refused
  // (prohibit: the sender gets EACCES at once) instead of falling through
  // to the main table, except what never leaves the link (multicast, the
  // limited broadcast, IPv6 link-local). A family whose default route is
  // included, or already blackholed, needs nothing more. Protected sockets
  // skip the table altogether (their mark; see the rule).
  if (p.blockOutside) {
    if (!fullV4) {
      add('0.0.0.0/0', ROUTE_PROHIBIT);
      add('224.0.0.0/4', ROUTE_THROW);
      add('255.255.255.255/32', ROUTE_THROW);
    }
    if (!anyV6Default && !guardV6) {
      add('::/0', ROUTE_PROHIBIT);
      add('fe80::/10', ROUTE_THROW);
      add('ff00::/8', ROUTE_THROW);
    }
  }
  const families = new Set<4 | 6>();
  for (const c of cidrs) families.add(c.includes(':') ? 6 : 4);
  return { cidrs, types, families };
}

/** The main table's rule: a goto there skips every VPN table before it. */
const MAIN_RULE_PRIORITY = 32766;

/**
 * The session's policy rules, per family, in the order the kernel must
 * meet them (rules of one priority keep the order they were added in):
 * protected sockets' packets (the mark) and the users who bypass the
 * tunnel (uid ranges) go on at the main table's rule; everything else
 * looks up the session's table.
 */
export function rulesFor(
  families: Iterable<4 | 6>,
  o: SessionRoutingOptions,
  bypassUids: readonly [number, number][],
): RuleSpec[] {
  const out: RuleSpec[] = [];
  const { table, priority, fwmark } = o;
  for (const family of families) {
    out.push({ family, table, priority, goto: MAIN_RULE_PRIORITY, fwmark });
    for (const uidRange of bypassUids)
      out.push({ family, table, priority, goto: MAIN_RULE_PRIORITY, uidRange: [...uidRange] });
    out.push({ family, table, priority });
  }
  return out;
}

export class SessionRouting {
  /** The rules in the kernel now, as rulesFor gave them (JSON), or null. */
  private rules: string | null = null;

  constructor(
    private readonly options: SessionRoutingOptions,
    private readonly ifindex: number,
  ) {}

  /** Programs the kernel for p (replacing what an earlier call set) and returns the in-process table. */
  async apply(p: ValidParameters): Promise<RouteTable> {
    const { table, priority } = this.options;
    const { cidrs, types, families } = plan(p);
    const rules = rulesFor(families, this.options, p.bypassUids);
    const wanted = JSON.stringify(rules);
    try {
      // The first time, or when they change, the rules go first: a process
      // killed before its journal could tell may have left some, and adding
      // one again would fail (EEXIST).
      if (this.rules !== wanted) {
        await native.flushRules({ table, priority });
        this.rules = null;
      }
      await native.flushTable({ table });
      // The routes go out on the threadpool; the in-process table is built
      // meanwhile (100k routes: ~0.1 s of the ~1 s the kernel takes).
      const programmed =
        cidrs.length > 0
          ? native.changeRoutes({
              table,
              add: true,
              cidrs,
              types: Uint8Array.from(types),
              ifindex: this.ifindex,
            })
          : Promise.resolve();
      let routes: RouteTable;
      try {
        routes = RouteTable.from([
          ...p.inclusions.map((c) => [key(c), INCLUDED] as const),
          ...p.exclusions.map((c) => [key(c), EXCLUDED] as const),
        ]);
      } finally {
        await programmed;
      }
      if (this.rules === null) {
        for (const rule of rules) await native.addRule(rule);
        this.rules = wanted;
      }
      return routes;
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Removes the rules and every route of the table. */
  async remove(): Promise<void> {
    await removeRouting(this.options.table, this.options.priority);
    this.rules = null;
  }
}

/**
 * Removes the rules that consult `table` (and, given its `priority`, the
 * session's goto rules there) and its routes (also after a crash).
 */
export async function removeRouting(table: number, priority?: number): Promise<void> {
  try {
    await native.flushRules({ table, ...(priority ? { priority } : {}) });
    await native.flushTable({ table });
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * The routing table and rule priority of a new session: never one that a
 * rule in the kernel already uses (another instance's, live or killed, on
 * another state directory; our own leftovers were removed by recovery).
 * Given explicitly (`explicit`: the routing option named them), a taken one is refused; by default
 * the first free pair from 30100 up is taken.
 */
export function pickRouting(base: RoutingOptions, explicit: boolean): RoutingOptions {
  const rules = native.listRules();
  const tables = new Set(rules.map((r) => r.table));
  const priorities = new Set(rules.map((r) => r.priority));
  const taken = (o: RoutingOptions) => tables.has(o.table) || priorities.has(o.priority);
  if (explicit) {
    if (taken(base)) {
      const holder = rules.find((r) => r.table === base.table || r.priority === base.priority);
      throw new VpnError(
        `Routing table ${base.table} or rule priority ${base.priority} is in use (a rule at priority ${holder?.priority} looks up table ${holder?.table}): another instance's, or choose other values with the routing option.`,
        'ERR_ROUTING_TABLE_IN_USE',
      );
    }
    return base;
  }
  for (let k = 0; k < 1000; k++) {
    const o = { table: base.table + k, priority: base.priority + k };
    if (!taken(o)) return o;
  }
  throw new VpnError(
    `No free routing table and rule priority from ${base.table} to ${base.table + 999}.`,
    'ERR_ROUTING_TABLE_IN_USE',
  );
}

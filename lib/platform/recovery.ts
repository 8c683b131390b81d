// What the next start does after a process died with its session up
// (SIGKILL, power loss): the journal names the routing table, the TUN
// device (left persistent on purpose, so that the session's routes kept
// the tunnel's traffic inside it) and the resolv.conf copy; all of it goes.
import { debuglog } from 'node:util';
import { fromNative } from '../errors';
import { native } from '../native';
import { restoreResolvConf } from './dns';
import { Journal, type JournalEntry } from './journal';
import { removeRouting } from './routing';

const debug = debuglog('vpn-provider');

/**
 * Removes what a dead process's session left. An unreadable journal named
 * nothing: a session of ours only ever used the base table and priority
 * unless they were taken, so their routes and rules go, and so does the file.
 */
export async function recoverLeftovers(
  journal: Journal,
  base: { table: number; priority: number },
  log: (line: string) => void,
): Promise<void> {
  let e;
  try {
    e = journal.read();
  } catch (err) {
    log(`vpn-provider: ${(err as Error).message}; removing table ${base.table}`);
    await removeRouting(base.table, base.priority);
    journal.clear();
    return;
  }
  if (!e || Journal.alive(e)) {
    debug('recovery: %s', e ? `process ${e.pid} is alive` : 'no journal');
    return;
  }
  log(`vpn-provider: removing what the session of dead process ${e.pid} left (table ${e.table})`);
  await removeRouting(e.table, e.priority);
  await removeLeftDevice(e);
  if (e.resolvConfBackup && e.resolvConfPath)
    restoreResolvConf(e.resolvConfPath, e.resolvConfBackup);
  journal.clear();
}

/**
 * Deletes the persistent TUN device a killed session left (see
 * Session.keepDeviceOnCrash), if a link of that name still has the index
 * the journal recorded: never another device that took the name since.
 */
async function removeLeftDevice(e: Pick<JournalEntry, 'interfaceName' | 'ifindex'>): Promise<void> {
  if (typeof e.interfaceName !== 'string' || !Number.isInteger(e.ifindex)) return;
  let index: number;
  try {
    index = native.linkIndex(e.interfaceName);
  } catch {
    return; // gone already (deleted by hand, or never persisted)
  }
  if (index !== e.ifindex) return;
  try {
    await native.deleteLink({ ifindex: index });
  } catch (err) {
    throw fromNative(err);
  }
}

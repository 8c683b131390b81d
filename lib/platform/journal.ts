// A small journal in the state directory: what a running session has put
// into the kernel and the system, so that the next start can remove what a
// process killed mid-session (kill -9, power loss) left behind: the rule,
// the routing table, the DNS settings and the TUN device, which a session
// makes persistent so that its routes keep traffic inside a dead tunnel
// instead of letting it fall through to the main table.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsError, VpnError } from '../errors';
import { writeFileAtomic } from './store';

export interface JournalEntry {
  pid: number;
  /** The process's start time (from /proc), so that a reused pid is not mistaken for it. */
  startTime: string;
  table: number;
  /** The priority of the session's rules (older journals have none: the table's rules only). */
  priority?: number;
  interfaceName: string;
  /**
   * The device's index: the device persists after a SIGKILL (fail closed)
   * and the next start deletes the link of this name only if it still has
   * this index (indexes are not reused until the namespace wraps them).
   */
  ifindex?: number;
  /** Set while the resolv.conf backend holds the original: where the copy is. */
  resolvConfBackup?: string;
  resolvConfPath?: string;
}

export function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the ")" that ends the command name.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export class Journal {
  readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, 'session.json');
  }

  /** The entry, or null when there is none; throws ERR_JOURNAL_CORRUPT if unreadable. */
  read(): JournalEntry | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fsError(err, `Cannot read the session journal ${this.file}`);
    }
    let e: JournalEntry;
    try {
      e = JSON.parse(text) as JournalEntry;
    } catch {
      e = {} as JournalEntry;
    }
    if (
      typeof e !== 'object' ||
      e === null ||
      !Number.isInteger(e.pid) ||
      !Number.isInteger(e.table) ||
      typeof e.startTime !== 'string'
    ) {
      throw new VpnError(`The session journal ${this.file} is corrupt`, 'ERR_JOURNAL_CORRUPT');
    }
    return e;
  }

  /** True if the process that wrote `e` is still running. */
  static alive(e: JournalEntry): boolean {
    return processStartTime(e.pid) === e.startTime;
  }

  write(e: Omit<JournalEntry, 'pid' | 'startTime'>): void {
    const entry: JournalEntry = {
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? '',
      ...e,
    };
    writeFileAtomic(this.file, JSON.stringify(entry) + '\n', 'the session journal');
  }

  clear(): void {
    fs.rmSync(this.file, { force: true });
  }
}

// Persistent configurations, per provider, in the platform's state directory
// (ChromeOS keeps them across logins; we keep them across restarts).
//
// One file, configs.json, mode 0600 in a 0700 directory. Every change is a
// read-modify-write under an flock()ed lock file, so two processes on one
// state directory cannot lose each other's changes; the new file is written
// to a temporary file, fsync'ed and renamed over the old one, so a crash
// leaves the old file or the new one, never half of one. A corrupt file is an
// error that names it, and is never overwritten.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromNative, fsError, VpnError } from '../errors';
import { native } from '../native';

export interface StoredConfig {
  providerId: string;
  /** Chrome forms the id from the name: id === name. */
  id: string;
  name: string;
}

interface StoreFile {
  version: 1;
  configs: StoredConfig[];
}

/** The default state directory: /var/lib/vpn-provider as root, else under XDG_STATE_HOME. */
export function defaultStateDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/vpn-provider';
  const base = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'vpn-provider');
}

const LOCK_WAIT_MS = 5000;

export class ConfigStore {
  readonly file: string;
  private readonly lockPath: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'configs.json');
    this.lockPath = path.join(dir, 'configs.lock');
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fsError(err, `Cannot create the state directory ${dir}`);
    }
  }

  /** The configurations as stored now. Throws ERR_STORE_CORRUPT naming the file. */
  load(): StoredConfig[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(err, `Cannot read the configuration file ${this.file}`);
    }
    return parseStore(text, this.file).configs;
  }

  /**
   * Applies `change` to the stored configurations under the lock and writes
   * the result. `change` sees the file as it is now (another process may
   * have changed it) and returns the new list, or throws to change nothing.
   */
  async update(change: (configs: StoredConfig[]) => StoredConfig[]): Promise<StoredConfig[]> {
    const fd = await this.lock();
    try {
      const next = change(this.load());
      this.write({ version: 1, configs: next });
      return next;
    } finally {
      native.unlockFile(fd);
    }
  }

  private async lock(): Promise<number> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
      try {
        return native.lockFile(this.lockPath);
      } catch (err) {
        if ((err as { code?: string }).code !== 'EAGAIN') {
          // Cannot even open it: a read-only or full state directory, say.
          throw fromNative(err);
        }
        if (Date.now() > deadline) {
          throw new VpnError(
            `Cannot lock the configuration store ${this.lockPath}: ${(err as Error).message}`,
            'ERR_STORE_LOCKED',
            { cause: err },
          );
        }
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private write(data: StoreFile): void {
    writeFileAtomic(this.file, JSON.stringify(data, null, 2) + '\n', 'the configuration file');
  }
}

/**
 * Writes text to file atomically: a temporary file (0600) beside it,
 * written in full and fsync'ed, renamed over it, and the directory
 * fsync'ed, so that a crash leaves the old file or the new one. A failure
 * (EROFS, ENOSPC...) leaves no temporary file and is a SystemError naming
 * `what` and the file.
 */
export function writeFileAtomic(file: string, text: string, what: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    // A temporary file left by a write of ours that died halfway.
    fs.rmSync(tmp, { force: true });
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      const bytes = Buffer.from(text);
      // writeSync may write less than asked (a full disk answers ENOSPC
      // only on the next call): loop until all is written.
      for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // read-only: there is no temporary file either
    }
    throw fsError(err, `Cannot write ${what} ${file}`);
  }
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

function corrupt(file: string, why: string): VpnError {
  return new VpnError(
    `The configuration file ${file} is corrupt (${why}); it was left as it is: repair it or move it away.`,
    'ERR_STORE_CORRUPT',
  );
}

function parseStore(text: string, file: string): StoreFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw corrupt(file, (err as Error).message);
  }
  const d = data as Partial<StoreFile>;
  if (typeof d !== 'object' || d === null || d.version !== 1 || !Array.isArray(d.configs)) {
    throw corrupt(file, 'expected { "version": 1, "configs": [...] }');
  }
  d.configs.forEach((c, i) => {
    const ok =
      typeof c === 'object' &&
      c !== null &&
      typeof c.providerId === 'string' &&
      typeof c.id === 'string' &&
      typeof c.name === 'string';
    if (!ok) throw corrupt(file, `entry ${i} is not { providerId, id, name }`);
  });
  return d as StoreFile;
}

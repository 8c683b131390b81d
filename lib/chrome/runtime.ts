// chrome.runtime: lastError (the Caller's), id, getManifest(), and the two
// lifecycle events as Chrome fires them: onInstalled({ reason: "install" })
// the first time the extension runs on a state directory, { reason:
// "update", previousVersion } when its manifest's version changed since;
// onStartup on every later run (Chrome does not fire it on the run that
// installs). Which version ran last is kept in
// <stateDir>/chrome/<provider>/installed.json (0600, atomic).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsError } from '../errors';
import { ChromeEvent } from '../events';
import { writeFileAtomic } from '../platform/store';
import { facade, guard, type EventFacade } from './absent';
import type { Caller } from './call';

export interface InstalledDetails {
  reason: 'install' | 'update';
  previousVersion?: string;
}

export interface Runtime {
  readonly lastError: { message: string } | undefined;
  readonly id: string;
  getManifest(): Record<string, unknown>;
  readonly onStartup: EventFacade<[]>;
  readonly onInstalled: EventFacade<[InstalledDetails]>;
}

export class Lifecycle {
  readonly startup = new ChromeEvent<[]>('runtime.onStartup');
  readonly installed = new ChromeEvent<[InstalledDetails]>('runtime.onInstalled');
  private started = false;

  constructor(
    private readonly dir: string,
    private readonly version: string,
  ) {}

  /** Fires onInstalled and/or onStartup, once per run. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const file = path.join(this.dir, 'installed.json');
    let previous: string | null = null;
    try {
      const data = JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: unknown };
      previous = typeof data.version === 'string' ? data.version : '';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        // Unreadable or corrupt: it was installed; what version is unknown.
        previous = '';
      }
    }
    if (previous === null || previous !== this.version) {
      try {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw fsError(err, `Cannot create the extension's directory ${this.dir}`);
      }
      writeFileAtomic(
        file,
        JSON.stringify({ version: this.version }) + '\n',
        "the extension's install record",
      );
    }
    if (previous !== null) this.startup.dispatch();
    if (previous === null) this.installed.dispatch({ reason: 'install' });
    else if (previous !== this.version)
      this.installed.dispatch({ reason: 'update', previousVersion: previous });
  }
}

export function createRuntime(
  id: string,
  manifest: Record<string, unknown>,
  lifecycle: Lifecycle,
  caller: Caller,
): Runtime {
  const text = JSON.stringify(manifest);
  return guard('chrome.runtime', {
    get lastError() {
      return caller.lastError;
    },
    id,
    getManifest: () => JSON.parse(text) as Record<string, unknown>,
    onStartup: facade('chrome.runtime.onStartup', lifecycle.startup),
    onInstalled: facade('chrome.runtime.onInstalled', lifecycle.installed),
  });
}

// runExtension(dir): an extension's folder run as ChromeOS would run it for
// its VPN. manifest.json names the background code (Manifest V2
// background.scripts, in order; Manifest V3 background.service_worker, with
// importScripts), and must ask for the "vpnProvider" permission. The scripts
// run in one vm context, whose global is a service worker's or background
// page's: `chrome`, console, timers, TextEncoder/TextDecoder, URL, crypto,
// atob/btoa, self.
//
// ArrayBuffers: a vm context has builtins of its own, so an ArrayBuffer that
// the platform hands over (onPacketReceived, sockets.udp.onReceive) would
// fail the extension's `data instanceof ArrayBuffer`, and one the extension
// makes would fail ours. The context gets this realm's ArrayBuffer,
// SharedArrayBuffer, DataView and typed array constructors instead: what
// the extension makes with them (new, slice, subarray, TextEncoder) is of
// our realm, and the two sides agree.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { argTypeError, VpnError } from '../errors';
import { createPlatform, type Platform, type PlatformOptions } from '../platform/platform';
import { closeChrome, createChrome, startChrome, type Chrome } from './chrome';
import type { Log } from './call';

export interface Manifest {
  manifest_version: 2 | 3;
  name: string;
  version: string;
  permissions?: string[];
  key?: string;
  background?: { scripts?: string[]; service_worker?: string; page?: string; type?: string };
  [key: string]: unknown;
}

export interface RunExtensionOptions extends PlatformOptions {
  /** Run on this platform (default: one made with these options, closed by close()). */
  platform?: Platform;
  /** The provider id (default: Chrome's extension id, from manifest.key or the folder's path). */
  providerId?: string;
  /** Where the extension's console and Chrome's messages go (default: this process's console). */
  console?: Pick<Console, 'log' | 'info' | 'warn' | 'error' | 'debug'>;
}

export interface RunningExtension {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly providerId: string;
  readonly platform: Platform;
  readonly chrome: Chrome;
  /** The background context (its global object). */
  readonly context: vm.Context;
  /** Closes the extension's sockets, and the platform if runExtension made it. */
  close(): Promise<void>;
}

function fail(message: string, code: string, cause?: unknown): VpnError {
  return new VpnError(message, code, cause === undefined ? undefined : { cause });
}

/** manifest.json of an extension's folder, checked: what runExtension needs of it. */
export function readManifest(dir: string): Manifest {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw fail(
      e.code === 'ENOENT'
        ? `${dir} is not an extension: it has no manifest.json.`
        : `Cannot read ${file}: ${e.message}`,
      'ERR_EXTENSION_MANIFEST',
      err,
    );
  }
  let m: Manifest;
  try {
    m = JSON.parse(text.replace(/^\uFEFF/, '')) as Manifest;
  } catch (err) {
    throw fail(
      `${file} is not valid JSON: ${(err as Error).message}`,
      'ERR_EXTENSION_MANIFEST',
      err,
    );
  }
  const bad = (why: string) => fail(`${file}: ${why}`, 'ERR_EXTENSION_MANIFEST');
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad('not a JSON object.');
  if (m.manifest_version !== 2 && m.manifest_version !== 3)
    throw bad('manifest_version must be 2 or 3.');
  if (typeof m.name !== 'string' || typeof m.version !== 'string')
    throw bad('"name" and "version" must be strings.');
  const perms = Array.isArray(m.permissions) ? m.permissions : [];
  if (!perms.includes('vpnProvider'))
    throw fail(
      `${file} does not ask for the "vpnProvider" permission: add "vpnProvider" to "permissions".`,
      'ERR_EXTENSION_PERMISSION',
    );
  const bg = m.background;
  if (typeof bg !== 'object' || bg === null) throw bad('no "background" with the scripts to run.');
  if (m.manifest_version === 2) {
    if (bg.page !== undefined && bg.scripts === undefined)
      throw bad("background.page is not supported: list the page's scripts in background.scripts.");
    if (!Array.isArray(bg.scripts) || bg.scripts.length === 0 || !bg.scripts.every(isString))
      throw bad('Manifest V2 needs background.scripts, a list of script files.');
  } else {
    if (typeof bg.service_worker !== 'string' || bg.service_worker === '')
      throw bad('Manifest V3 needs background.service_worker, a script file.');
    if (bg.type === 'module')
      throw bad(
        'module service workers ("type": "module") are not supported: use a classic script.',
      );
  }
  return m;
}

const isString = (x: unknown): x is string => typeof x === 'string';

/**
 * Chrome's id of an extension: from its manifest key when it has one, else
 * (unpacked) from its folder's absolute path; the first 128 bits of a
 * SHA-256, each hex digit as a letter from a to p.
 */
export function extensionId(dir: string, manifest: Pick<Manifest, 'key'>): string {
  const input =
    typeof manifest.key === 'string'
      ? Buffer.from(manifest.key, 'base64')
      : Buffer.from(path.resolve(dir));
  const hex = createHash('sha256').update(input).digest('hex').slice(0, 32);
  return [...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('');
}

/** A file named by the manifest, inside the extension's folder. */
function scriptPath(dir: string, name: string, what: string): string {
  const root = path.resolve(dir);
  const file = path.resolve(root, name.replace(/^\//, ''));
  if (file !== root && !file.startsWith(root + path.sep))
    throw fail(
      `${what} ${name} is outside the extension's folder ${root}.`,
      'ERR_EXTENSION_SCRIPT',
    );
  return file;
}

function runScript(context: vm.Context, dir: string, name: string, what: string): void {
  const file = scriptPath(dir, name, what);
  let code: string;
  try {
    code = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw fail(
      e.code === 'ENOENT'
        ? `${what} ${name} does not exist (${file}).`
        : `Cannot read ${what} ${name}: ${e.message}`,
      'ERR_EXTENSION_SCRIPT',
      err,
    );
  }
  let script: vm.Script;
  try {
    script = new vm.Script(code, { filename: file });
  } catch (err) {
    throw fail(
      `${what} ${name} does not compile: ${(err as Error).message}`,
      'ERR_EXTENSION_SCRIPT',
      err,
    );
  }
  try {
    script.runInContext(context);
  } catch (err) {
    const e = err as { message?: unknown };
    const msg = typeof e?.message === 'string' ? e.message : String(err);
    throw fail(`${what} ${name} threw while loading: ${msg}`, 'ERR_EXTENSION_SCRIPT', err);
  }
}

const BUFFER_TYPES = {
  ArrayBuffer,
  SharedArrayBuffer,
  DataView,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/** Runs the extension in `dir`; resolves once its background scripts have run. */
export async function runExtension(
  dir: string,
  options: RunExtensionOptions = {},
): Promise<RunningExtension> {
  if (typeof dir !== 'string' || dir === '') throw argTypeError('dir must be a non-empty string');
  const manifest = readManifest(dir);
  const bg = manifest.background!;
  const scripts = manifest.manifest_version === 2 ? bg.scripts! : [bg.service_worker!];
  const what = manifest.manifest_version === 2 ? 'background script' : 'service worker';
  // Missing files are reported before anything starts.
  for (const s of scripts) {
    const file = scriptPath(dir, s, what);
    if (!fs.existsSync(file))
      throw fail(`${what} ${s} does not exist (${file}).`, 'ERR_EXTENSION_SCRIPT');
  }
  const {
    platform: given,
    providerId: idOption,
    console: out = console,
    ...platformOptions
  } = options;
  const providerId = idOption ?? extensionId(dir, manifest);
  const platform = given ?? createPlatform(platformOptions);
  const log: Log = (line) => out.error(line);
  let chrome: Chrome | null = null;
  try {
    chrome = createChrome({
      platform,
      providerId,
      manifest,
      log,
      autoStart: false,
    });
    const globals: Record<string, unknown> = {
      chrome,
      console: out,
      setTimeout,
      clearTimeout,
      setInterval,
      clearInterval,
      queueMicrotask,
      structuredClone,
      TextEncoder,
      TextDecoder,
      URL,
      URLSearchParams,
      atob,
      btoa,
      crypto: globalThis.crypto,
      performance,
      AbortController,
      AbortSignal,
      EventTarget,
      Event,
      ...BUFFER_TYPES,
    };
    const context = vm.createContext(globals, {
      name: `extension ${manifest.name} (${providerId})`,
    });
    vm.runInContext('globalThis.self = globalThis;', context);
    if (manifest.manifest_version === 3) {
      // A service worker's importScripts: files of the extension, in order, now.
      context.importScripts = (...names: unknown[]) => {
        for (const n of names) {
          if (typeof n !== 'string') throw new TypeError('importScripts takes script names');
          runScript(context, dir, n, 'imported script');
        }
      };
    }
    for (const s of scripts) runScript(context, dir, s, what);
    startChrome(chrome);
    const running: RunningExtension = {
      dir: path.resolve(dir),
      manifest,
      providerId,
      platform,
      chrome,
      context,
      close: async () => {
        closeChrome(running.chrome);
        if (!given) await platform.close();
      },
    };
    return running;
  } catch (err) {
    if (chrome) closeChrome(chrome);
    if (!given) await platform.close();
    throw err;
  }
}

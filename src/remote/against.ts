/**
 * What `sshcast verify --against` compares the device's copies with (DESIGN.md section 8):
 *
 * - `s3://BUCKET/PREFIX[/DEVICE]`: the collectors' bucket, read directly (the standard AWS
 *   variables); live uploads are read from their segments, so a session still shipping counts.
 * - `DIR2[/DEVICE]`: a collector's `--dir` (it has `.uploads/`), read the same way; or, when DIR2
 *   is no collector's, a plain copy of the device's directory (a backup, an rsync).
 * - `http(s)://HOST:PORT[/DEVICE]`: a collector, which reads its store for the caller
 *   (`GET /copies/`, collect/read.ts) with its read token; a device's token cannot.
 *
 * The device is the last path segment when given; otherwise `--device NAME`, or the name the
 * device's uploader ships as (`.sshcast/uploads.json`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { DEVICE_PATTERN, UPLOADS } from '../storage/layout.js';
import { isCollectorDir, isS3Url, openStore } from '../storage/location.js';
import type { ObjectStore } from '../storage/objects.js';
import { collectorCopies } from './collector-copies.js';
import { localCopies, storedCopies, type Copies } from './compare.js';
import { readDeviceName } from './state.js';

/** The other side of a comparison. */
export interface AgainstTarget {
  /** Where the copies are, for messages: `s3://B/P/DEVICE`, `DIR/DEVICE`, `URL/DEVICE`, `DIR`. */
  label: string;
  /** The device whose copies these are; undefined for a plain directory copy. */
  device: string | undefined;
  copies: Copies;
  /** The store the copies are read from (s3:// or a collector's directory), if any. */
  store: ObjectStore | undefined;
  /** Releases connections. */
  close(): void;
}

export interface AgainstOptions {
  /** The device's recording directory. */
  dir: string;
  /** The device named on the command line (`--device`). */
  device?: string | undefined;
  /** The collector's read token, asked for only when the target is a URL. */
  readToken?: () => string;
  /** Extra CA certificates (PEM) for an https collector. */
  ca?: string | Buffer | undefined;
  env?: NodeJS.ProcessEnv;
}

function needDevice(spec: string): ConfigError {
  return new ConfigError(
    `${spec} holds the copies of every device: name this one (${spec.replace(/\/+$/, '')}/DEVICE, or --device NAME)`,
  );
}

function checkDevice(name: string, where: string): string {
  if (!DEVICE_PATTERN.test(name))
    throw new ConfigError(`${JSON.stringify(name)} (${where}) is not a device name`);
  return name;
}

/** Opens the target `spec` names, for the device whose recording directory is `options.dir`. */
export async function openAgainst(spec: string, options: AgainstOptions): Promise<AgainstTarget> {
  const named = options.device !== undefined ? checkDevice(options.device, '--device') : undefined;
  const known = named ?? readDeviceName(options.dir);

  if (/^https?:\/\//i.test(spec)) {
    const url = new URL(spec);
    const segments = url.pathname.split('/').filter((s) => s !== '');
    if (segments.length > 1 || url.search !== '' || url.hash !== '')
      throw new ConfigError(`${spec}: a collector's address is http(s)://HOST:PORT[/DEVICE]`);
    const inUrl = segments[0] !== undefined ? decodeURIComponent(segments[0]) : undefined;
    if (inUrl !== undefined && named !== undefined && inUrl !== named)
      throw new ConfigError(`${spec} names device ${inUrl}, --device ${named}`);
    const device = inUrl ?? known;
    if (device === undefined) throw needDevice(spec);
    checkDevice(device, spec);
    const copies = collectorCopies({
      url: url.origin,
      device,
      token: options.readToken?.() ?? '',
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    });
    return {
      label: `${url.origin}/${device}`,
      device,
      copies,
      store: undefined,
      close: () => copies.close?.(),
    };
  }

  const s3 = isS3Url(spec);
  let segments: string[];
  let root: (keep: number) => string;
  if (s3) {
    const m = /^s3:\/\/([^/]*)\/?(.*)$/.exec(spec)!;
    segments = m[2]!.split('/').filter((s) => s !== '');
    root = (keep) => `s3://${m[1]}/${segments.slice(0, keep).join('/')}`;
  } else {
    const full = path.resolve(spec);
    if (!fs.existsSync(full)) throw new ConfigError(`${spec}: no such directory`);
    if (!isCollectorDir(full) && !isCollectorDir(path.dirname(full))) {
      // Not a collector's: a plain copy of the device's directory.
      return {
        label: spec,
        device: undefined,
        copies: localCopies(full),
        store: undefined,
        close: () => {},
      };
    }
    segments = full.split('/').filter((s) => s !== '');
    root = (keep) => `/${segments.slice(0, keep).join('/')}`;
  }
  const last = segments.at(-1);
  let device: string;
  let rootSpec: string;
  if (known !== undefined) {
    device = known;
    const split = last === known && (s3 || isCollectorDir(root(segments.length - 1)));
    rootSpec = root(split ? segments.length - 1 : segments.length);
  } else if (s3 ? await holdsUploads(spec, options.env) : isCollectorDir(root(segments.length))) {
    throw needDevice(spec);
  } else if (last !== undefined && DEVICE_PATTERN.test(last)) {
    device = last;
    rootSpec = root(segments.length - 1);
  } else throw needDevice(spec);
  const store = await openStore(rootSpec, options.env);
  return {
    label: `${store.location.replace(/\/$/, '')}/${device}`,
    device,
    copies: storedCopies(store, device),
    store,
    close: () => store.close(),
  };
}

/** Whether the bucket prefix `spec` is a collectors' root (it has uploads). */
async function holdsUploads(spec: string, env?: NodeJS.ProcessEnv): Promise<boolean> {
  const store = await openStore(spec, env);
  try {
    return (await store.listNames(UPLOADS)).length > 0;
  } finally {
    store.close();
  }
}

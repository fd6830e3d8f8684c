/**
 * What the device must remember across a restart to finish shipping: every upload not yet known
 * to be complete at a collector, in `DIR/.sshcast/uploads.json` (0600, in the 0700 `.sshcast`).
 * An entry is written (and synced) before its upload's first request and removed only after a
 * collector acknowledged its last byte with the length declared; so after a crash at any moment
 * the uploader knows what to finish. Offsets are not kept: they are asked of the collector (HEAD).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/** One upload the device has not finished shipping. */
export interface PendingUpload {
  /** The file, relative to the recording directory (a recording, or `.sshcast/ledger.jsonl`). */
  local: string;
  /** The name at the collector. */
  remote: string;
  /** The file's final size, once it will not grow (the recording closed, the ledger rotated). */
  length?: number;
  /** Whether a collector accepted its creation. */
  created?: boolean;
}

interface StateFile {
  version: 1;
  device: string;
  uploads: PendingUpload[];
}

export const STATE_DIR = '.sshcast';
export const STATE_FILE = 'uploads.json';

/** The device's upload state, kept in a file. Writes are serialised and atomic. */
export class DeviceState {
  readonly path: string;
  readonly device: string;
  readonly #uploads = new Map<string, PendingUpload>();
  #writing: Promise<void> = Promise.resolve();

  private constructor(file: string, device: string, uploads: PendingUpload[]) {
    this.path = file;
    this.device = device;
    for (const u of uploads) this.#uploads.set(u.remote, u);
  }

  /** Reads (or starts) the state of recording directory `dir` for `device`. */
  static open(dir: string, device: string): DeviceState {
    const stateDir = path.join(dir, STATE_DIR);
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(stateDir);
    if (!st.isDirectory() || (st.mode & 0o077) !== 0)
      throw new ConfigError(`${stateDir} must be a directory of mode 0700`);
    const file = path.join(stateDir, STATE_FILE);
    let uploads: PendingUpload[] = [];
    try {
      const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const parsed = JSON.parse(fs.readFileSync(fd, 'utf8')) as StateFile;
        if (parsed.version !== 1 || !Array.isArray(parsed.uploads))
          throw new ConfigError(`${file}: not a version 1 state file`);
        if (parsed.device !== device)
          throw new ConfigError(
            `${file} was written for device ${parsed.device}, not ${device}: move it away to start afresh`,
          );
        uploads = parsed.uploads;
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new ConfigError(`${file}: ${(err as Error).message}`);
    }
    return new DeviceState(file, device, uploads);
  }

  /** The uploads not finished, in the order they were added. */
  pending(): PendingUpload[] {
    return [...this.#uploads.values()].map((u) => ({ ...u }));
  }

  get(remote: string): PendingUpload | undefined {
    const u = this.#uploads.get(remote);
    return u && { ...u };
  }

  /** Adds or updates an upload, then writes the file; resolves once it is on disk. */
  set(upload: PendingUpload): Promise<void> {
    this.#uploads.set(upload.remote, { ...upload });
    return this.#save();
  }

  /** Removes a finished upload, then writes the file. */
  remove(remote: string): Promise<void> {
    if (!this.#uploads.delete(remote)) return this.#writing;
    return this.#save();
  }

  #save(): Promise<void> {
    const text =
      JSON.stringify({ version: 1, device: this.device, uploads: [...this.#uploads.values()] }) +
      '\n';
    const write = this.#writing.catch(() => {}).then(() => writeAtomically(this.path, text));
    this.#writing = write;
    return write;
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fh = await fs.promises.open(temp, 'wx', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(temp, file);
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * The device name the uploader of recording directory `dir` ships as (from its
 * `.sshcast/uploads.json`), or undefined when it has none. Reads only.
 */
export function readDeviceName(dir: string): string | undefined {
  try {
    const fd = fs.openSync(
      path.join(dir, STATE_DIR, STATE_FILE),
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
    try {
      const parsed = JSON.parse(fs.readFileSync(fd, 'utf8')) as Partial<StateFile>;
      return typeof parsed.device === 'string' ? parsed.device : undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

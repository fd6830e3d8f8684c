/**
 * An {@link ObjectStore} in a local directory: each key a file (0600) below it, directories 0700.
 * A write goes to a temporary file that is synced and then renamed over the key, so an object is
 * whole or absent after a crash, never half written. One process at a time writes a directory
 * (the collector holds a lock file); within it, writes and conditional copies of one key are
 * serialised, which makes {@link DirStore.copyIfMatch} atomic.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  ObjectNotFoundError,
  ObjectStoreError,
  checkKey,
  countRequest,
  newStats,
  type ObjectEntry,
  type ObjectHead,
  type ObjectRange,
  type ObjectStore,
  type Piece,
  type StoreStats,
} from './objects.js';

const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = fs.constants;
/** Objects this small get a content ETag (MD5); bigger ones one from size and time. */
const ETAG_MAX_BYTES = 1 << 20;
const TEMP_MARK = '~tmp-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DirStore implements ObjectStore {
  readonly location: string;
  readonly stats: StoreStats = newStats();
  readonly #root: string;
  readonly #locks = new Map<string, Promise<void>>();

  /** Opens (creating with parents, 0700) the directory `root`; refuses one others can write. */
  constructor(root: string) {
    this.#root = path.resolve(root);
    this.location = this.#root;
    fs.mkdirSync(this.#root, { recursive: true, mode: 0o700 });
    const fd = fs.openSync(this.#root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      const st = fs.fstatSync(fd);
      if ((st.mode & 0o022) !== 0)
        throw new ObjectStoreError(
          `${this.#root} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`,
        );
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Takes the directory for this process (`.uploads/.lock` holds its pid); throws if a live
   * process holds it. Returns the release.
   */
  holdLock(): () => void {
    const file = path.join(this.#root, '.uploads', '.lock');
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(file, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);
        fs.writeSync(fd, `${process.pid}\n`);
        fs.closeSync(fd);
        return () => fs.rmSync(file, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(fs.readFileSync(file, 'utf8').trim());
        if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
          throw new ObjectStoreError(`another collector (pid ${pid}) uses ${this.#root}`);
        fs.rmSync(file, { force: true }); // left by a process that is gone
      }
    }
    throw new ObjectStoreError(`cannot lock ${this.#root}`);
  }

  #path(key: string): string {
    return path.join(this.#root, checkKey(key));
  }

  async #locked<T>(keys: string[], run: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)].sort();
    const previous = unique.map((k) => this.#locks.get(k) ?? Promise.resolve());
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    for (const k of unique) this.#locks.set(k, mine);
    await Promise.all(previous);
    try {
      return await run();
    } finally {
      for (const k of unique) if (this.#locks.get(k) === mine) this.#locks.delete(k);
      release();
    }
  }

  async #writeFile(key: string, write: (fh: fs.promises.FileHandle) => Promise<void>) {
    const target = this.#path(key);
    const dir = path.dirname(target);
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = `${target}${TEMP_MARK}${crypto.randomBytes(6).toString('hex')}`;
    const fh = await fs.promises.open(temp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);
    try {
      await write(fh);
      await fh.sync();
    } catch (err) {
      await fh.close();
      await fs.promises.rm(temp, { force: true });
      throw err;
    }
    await fh.close();
    await fs.promises.rename(temp, target);
    const dh = await fs.promises.open(dir, O_RDONLY | O_DIRECTORY);
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    countRequest(this.stats, 'put');
    await this.#locked([key], () =>
      this.#writeFile(key, async (fh) => {
        await fh.writeFile(body);
      }),
    );
    this.stats.uploadedBytes += body.length;
  }

  async read(key: string, range?: ObjectRange): Promise<Readable> {
    countRequest(this.stats, 'get');
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.#path(key), O_RDONLY | O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFoundError(key);
      throw new ObjectStoreError(`read ${key}: ${(err as Error).message}`, { cause: err });
    }
    if (range && range.end <= range.start) {
      await fh.close();
      return Readable.from([]);
    }
    return fh.createReadStream(range ? { start: range.start, end: range.end - 1 } : {});
  }

  async get(key: string, range?: ObjectRange): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.read(key, range)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    countRequest(this.stats, 'head');
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(this.#path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ObjectStoreError(`head ${key}: ${(err as Error).message}`, { cause: err });
    }
    if (!st.isFile()) return undefined;
    const etag =
      st.size <= ETAG_MAX_BYTES
        ? `"${crypto
            .createHash('md5')
            .update(await fs.promises.readFile(this.#path(key)))
            .digest('hex')}"`
        : `"${st.size}-${st.mtimeMs}"`;
    return { size: st.size, etag, lastModified: st.mtimeMs, storeTime: Date.now() };
  }

  async *list(prefix: string): AsyncIterable<ObjectEntry> {
    countRequest(this.stats, 'list');
    const slash = prefix.lastIndexOf('/');
    const base = prefix.slice(0, slash + 1);
    const out: ObjectEntry[] = [];
    const walk = async (rel: string) => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(path.join(this.#root, rel), { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const key = rel + e.name;
        if (e.name.includes(TEMP_MARK)) continue;
        if (e.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(key + '/')) await walk(key + '/');
        } else if (e.isFile() && key.startsWith(prefix)) {
          const st = await fs.promises.lstat(path.join(this.#root, key)).catch(() => undefined);
          if (st) out.push({ key, size: st.size, lastModified: st.mtimeMs });
        }
      }
    };
    if (base === '' || fs.existsSync(path.join(this.#root, base))) await walk(base);
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* out;
  }

  async listNames(prefix: string): Promise<string[]> {
    countRequest(this.stats, 'list');
    try {
      const entries = await fs.promises.readdir(path.join(this.#root, prefix), {
        withFileTypes: true,
      });
      return entries
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) {
      countRequest(this.stats, 'delete');
      await this.#locked([key], async () => {
        await fs.promises.rm(this.#path(key), { force: true });
      });
      // Empty directories left behind are removed, up to the root.
      for (let dir = path.dirname(this.#path(key)); dir.startsWith(this.#root + '/');) {
        try {
          await fs.promises.rmdir(dir);
        } catch {
          break;
        }
        dir = path.dirname(dir);
      }
    }
  }

  async copyIfMatch(src: string, dst: string, etag: string): Promise<boolean> {
    countRequest(this.stats, 'copy');
    return this.#locked([src, dst], async () => {
      let body: Buffer;
      try {
        body = await fs.promises.readFile(this.#path(src), { flag: O_RDONLY | O_NOFOLLOW });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
      const now = `"${crypto.createHash('md5').update(body).digest('hex')}"`;
      if (now !== etag) return false;
      await this.#writeFile(dst, async (fh) => {
        await fh.writeFile(body);
      });
      this.stats.copiedBytes += body.length;
      return true;
    });
  }

  async compose(key: string, pieces: Piece[], length: number): Promise<void> {
    countRequest(this.stats, 'compose');
    let written = 0;
    await this.#locked([key], () =>
      this.#writeFile(key, async (fh) => {
        for (const p of pieces) {
          if (p.length === 0) continue;
          const src = await this.read(p.key, { start: p.offset, end: p.offset + p.length });
          for await (const chunk of src) {
            const b = chunk as Buffer;
            await fh.write(b, 0, b.length, written);
            written += b.length;
          }
        }
        const st = await fh.stat();
        if (st.size !== length)
          throw new ObjectStoreError(`compose ${key}: wrote ${st.size} bytes, not ${length}`);
      }),
    );
    this.stats.uploadedBytes += length;
  }

  close(): void {}
}

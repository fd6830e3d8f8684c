/**
 * `sshcast collect --listen HOST:PORT --tokens FILE (--dir DIR | --s3 s3://BUCKET/PREFIX)
 * [--tls-cert FILE --tls-key FILE]`: receives devices' recordings and ledgers over tus and stores
 * them, until SIGINT or SIGTERM.
 */
import fs from 'node:fs';
import { loadTokens } from '../collect/tokens.js';
import { DirStore } from '../storage/dir.js';
import { s3Settings } from '../storage/location.js';
import type { ObjectStore } from '../storage/objects.js';
import { UsageError, parseCommandArgs, positiveNumber } from './common.js';
import { ConfigError, SshcastError } from '../errors.js';
import { escapeControl } from '../text/escape.js';

/** Usage text for `sshcast collect`. */
export const help = `Usage: sshcast collect --listen HOST:PORT --tokens FILE (--dir DIR | --s3 s3://BUCKET/PREFIX)
                      [--tls-cert FILE --tls-key FILE]

Receives recordings and sealing ledgers from devices (tus 1.0, resumable) and stores each at
DEVICE/<file name> in DIR or under the bucket's PREFIX, byte for byte; live ones are readable
while they grow. Devices can only create and append to their own uploads: nothing is read back
or deleted through the collector. Several collectors can share one bucket; any takes over an
upload another left. When ready it prints: collecting on http(s)://HOST:PORT

Options:
  --listen HOST:PORT   address to listen on (port 0 picks a free one)
  --tokens FILE        lines "DEVICE TOKEN", and "@metrics TOKEN" for GET /metrics;
                       the file must not be open to group or others (chmod 600)
  --dir DIR            store in a directory (one collector per directory)
  --s3 s3://BUCKET/PREFIX
                       store in an S3-compatible bucket; settings from AWS_ENDPOINT_URL,
                       AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
  --tls-cert FILE      serve HTTPS with this certificate (PEM)...
  --tls-key FILE       ...and this key
  --lease SECONDS      how long an upload stays with a collector that stopped answering (10)
  --idle-finish SECONDS
                       copy an open upload to its object after this much silence (3600)
  --device-requests N  requests one device may have open at once; more get 429 (256)
  -h, --help           show this help

Do not add a lifecycle rule that aborts incomplete multipart uploads or expires objects under
PREFIX/.uploads/: live recordings are kept there.
`;

/** Parses `HOST:PORT` (`[::1]:PORT` for IPv6). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new UsageError(`collect: --listen must be HOST:PORT, not ${JSON.stringify(text)}`);
  return { host: m[1] ?? m[2]!, port };
}

function readPem(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new SshcastError(
      'ERR_FILE',
      `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { cause: err },
    );
  }
}

/** Runs `sshcast collect`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('collect', args, {
    listen: { type: 'string' },
    tokens: { type: 'string' },
    dir: { type: 'string' },
    s3: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    lease: { type: 'string' },
    'idle-finish': { type: 'string' },
    'device-requests': { type: 'string' },
  });
  if (positionals.length > 0)
    throw new UsageError('collect: takes no positional arguments (see sshcast collect --help)');
  if (!values.listen) throw new UsageError('collect: --listen HOST:PORT is required');
  if (!values.tokens) throw new UsageError('collect: --tokens FILE is required');
  if (Boolean(values.dir) === Boolean(values.s3))
    throw new UsageError('collect: give one of --dir DIR and --s3 s3://BUCKET/PREFIX');
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key']))
    throw new UsageError('collect: --tls-cert and --tls-key go together');
  const { host, port } = parseListen(values.listen);
  const leaseMs =
    values.lease !== undefined
      ? positiveNumber('collect', '--lease', values.lease) * 1000
      : undefined;
  const idleMs =
    values['idle-finish'] !== undefined
      ? positiveNumber('collect', '--idle-finish', values['idle-finish']) * 1000
      : undefined;
  const perDevice = values['device-requests'];
  if (perDevice !== undefined && !/^[1-9][0-9]{0,6}$/.test(perDevice))
    throw new UsageError(
      `collect: --device-requests needs a whole number from 1, not ${JSON.stringify(escapeControl(perDevice))}`,
    );
  const tokens = loadTokens(values.tokens);
  const tls = values['tls-cert']
    ? {
        cert: readPem('--tls-cert', values['tls-cert']),
        key: readPem('--tls-key', values['tls-key']!),
      }
    : undefined;

  let store: ObjectStore;
  let release = () => {};
  if (values.dir) {
    const dir = new DirStore(values.dir);
    release = dir.holdLock();
    store = dir;
  } else {
    // Loaded only here: the S3 SDK takes a while to load, and a usage error should not wait.
    const { S3Store } = await import('../storage/s3.js');
    store = new S3Store(s3Settings(values.s3!));
    try {
      for await (const _ of store.list('.uploads/.probe')) break;
    } catch (err) {
      store.close();
      throw new SshcastError(
        'ERR_OBJECT_STORE',
        `cannot reach ${store.location}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  const { startCollector } = await import('../collect/server.js');
  let collector;
  try {
    collector = await startCollector({
      store,
      tokens,
      host,
      port,
      ...(tls ? { tls } : {}),
      ...(leaseMs !== undefined ? { leaseMs } : {}),
      ...(idleMs !== undefined ? { idleMs } : {}),
      ...(perDevice !== undefined ? { maxRequestsPerDevice: Number(perDevice) } : {}),
    });
  } catch (err) {
    release();
    store.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES')
      throw new ConfigError(`cannot listen on ${values.listen}: ${e.code}`, { cause: err });
    throw err;
  }
  process.stdout.write(`collecting on ${collector.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await collector.close();
  release();
  store.close();
  return 0;
}

/**
 * `sshcast web [DIR] [--host 127.0.0.1] [--port 8080] [--token-file FILE] [--max-viewers N]
 * [--live-window SECONDS]`: serves a private page to browse, replay and watch live the
 * recordings in DIR until SIGINT or SIGTERM; every replay and live view is logged on stderr.
 */
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultLiveness } from '../live/liveness.js';
import { DEFAULT_RECORDING_DIR } from '../recording/policy.js';
import { DEVICE_PATTERN } from '../storage/layout.js';
import { isCollectorDir, isS3Url, openStore } from '../storage/location.js';
import type { ObjectStore } from '../storage/objects.js';
import { newToken, tokenProblem } from '../web/access.js';
import { startWebServer } from '../web/server.js';

/** The text of `sshcast web --help`. */
export const help = `Usage: sshcast web [DIR | COLLECTOR-DIR | s3://BUCKET/PREFIX] [--device NAME]
                   [--host HOST] [--port PORT] [--token-file FILE]
                   [--max-viewers N] [--live-window SECONDS]

Serves a private web page to browse and replay the recordings in DIR
(default ${DEFAULT_RECORDING_DIR}) with asciinema-player, and to watch
live the ones still being written. DIR may be a device's directory or a
collector's --dir (DEVICE/NAME.cast one level down).

With s3://BUCKET/PREFIX or a collector's --dir (a directory holding .uploads/), the page shows
what every device shipped to the collectors storing there, finished and live, with a Device
column and filter (S3 settings from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY); --device NAME serves one device's only.

When ready it prints: serving http://HOST:PORT/#token=TOKEN
Open that URL: the page keeps the token in the tab (never in a cookie)
and sends it with every request; a request for data without it gets 401,
one with a Host other than HOST:PORT gets 421. Stop it with Ctrl-C.

Every replay, live view and refused request is logged on stderr, with
the time, the recording and the client's address.

Options:
  --host HOST            address to listen on (default 127.0.0.1)
  --port PORT            port (default 8080; 0 picks a free one)
  --token-file FILE      read the token from FILE instead of making a random one
  --device NAME          with a collectors' store: only this device's recordings
  --max-viewers N        live viewers at once, over all recordings (default 32)
  --live-window SECONDS  a copy in DEVICE/NAME.cast one level down is live while it
                         grew within SECONDS (default 120); a file directly in
                         DIR is live while a process on this machine writes it
  -h, --help             show this help
`;

/** Runs `sshcast web`; resolves with the exit status once the server stops (0 on SIGINT/SIGTERM). */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        'token-file': { type: 'string' },
        'max-viewers': { type: 'string', default: '32' },
        'live-window': { type: 'string', default: '120' },
        device: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // parseArgs adds advice about `--` after the first sentence; one line is enough.
    return fail(`${(err as Error).message.split('. ')[0]!} (see sshcast web --help)`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length > 1) return fail('takes at most one directory', 2);
  const dir = positionals[0] ?? DEFAULT_RECORDING_DIR;
  const port = Number(values.port);
  if (!/^[0-9]+$/.test(values.port) || port > 65535)
    return fail(`--port must be a number from 0 to 65535, not ${values.port}`, 2);
  const host = values.host;
  if (host === '') return fail('--host must not be empty', 2);
  const maxViewers = Number(values['max-viewers']);
  if (!/^[0-9]+$/.test(values['max-viewers']) || maxViewers < 1 || maxViewers > 10_000)
    return fail(`--max-viewers must be a number from 1 to 10000, not ${values['max-viewers']}`, 2);
  const window = Number(values['live-window']);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(values['live-window']) || window <= 0)
    return fail(
      `--live-window must be a number of seconds above 0, not ${values['live-window']}`,
      2,
    );

  let token: string;
  if (values['token-file'] !== undefined) {
    try {
      token = fs.readFileSync(values['token-file'], 'utf8').trim();
    } catch (err) {
      return fail(
        `cannot read --token-file ${values['token-file']}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
    const problem = tokenProblem(token);
    if (problem) return fail(`--token-file ${values['token-file']}: ${problem}`);
  } else {
    token = newToken();
  }

  const stored = isS3Url(dir) || isCollectorDir(dir);
  const device = values.device;
  if (device !== undefined && !stored)
    return fail("--device goes with s3://BUCKET/PREFIX or a collector's directory", 2);
  if (device !== undefined && !DEVICE_PATTERN.test(device))
    return fail(`--device ${JSON.stringify(device)} is not a device name`, 2);
  let store: ObjectStore | undefined;
  if (stored) {
    try {
      store = await openStore(dir);
      await store.listNames(''); // reachable, and the credentials work
    } catch (err) {
      store?.close();
      return fail(`cannot read ${dir}: ${(err as Error).message}`);
    }
  } else {
    try {
      const st = fs.statSync(dir);
      if (!st.isDirectory()) return fail(`${dir} is not a directory`);
    } catch (err) {
      return fail(`cannot open ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  let server;
  try {
    server = await startWebServer({
      dir,
      host,
      port,
      token,
      liveness: defaultLiveness(window * 1000),
      live: { maxViewers },
      log: (line) => process.stderr.write(`sshcast web: ${line}\n`),
      ...(store ? { store } : {}),
      ...(device !== undefined ? { device } : {}),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? 'address in use' : (e.code ?? e.message);
    return fail(`cannot serve on ${host}:${port}: ${why}`);
  }
  if (!isLoopback(host)) {
    process.stderr.write(
      `sshcast web: warning: ${host} is not a loopback address; the token and recordings cross the network as plain HTTP\n`,
    );
  }
  process.stdout.write(`serving ${server.urlWithToken}\n`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

function isMain(): boolean {
  try {
    return (
      !!process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href
    );
  } catch {
    return false;
  }
}

/** Prints one line; status 2 for a mistake in the command line, 1 for anything else. */
function fail(message: string, status = 1): number {
  process.stderr.write(`sshcast web: ${message}\n`);
  return status;
}

// Run directly (`node dist/src/cli/web.js …`) as well as through `sshcast web`.
if (isMain()) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`sshcast web: ${(err as Error).message ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

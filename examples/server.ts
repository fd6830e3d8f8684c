/**
 * A complete recording SSH server: public-key authentication, each session run as its local
 * account and recorded as asciicast v2 when TS_DEBUG_LOG_SSH is true. `npm start -- --help`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import {
  ConfigError,
  DEFAULT_PAM_SERVICE,
  DEFAULT_RECORDING_DIR,
  ENABLE_VARIABLE,
  Recorder,
  SealingError,
  authenticate,
  describeAuthPolicy,
  describeDiskLimits,
  describeLoginPolicy,
  escapingLogger,
  formatInterval,
  generateEd25519KeyPair,
  hangUp,
  limitChannels,
  limitConnections,
  parseAccountBudget,
  parseMaxStartups,
  parseMinFree,
  pamUnavailable,
  parseSize,
  recordingEnabledFromEnv,
  serveSessions,
  type AccountBudget,
  type FreeSpaceFloor,
  type MaxStartups,
  type RemoteOptions,
} from '../src/index.js';

/** Where the host key is kept unless --host-key says otherwise (never in the recordings directory). */
export const DEFAULT_HOST_KEY = '.sshcast/host_ed25519';

const USAGE = `usage: npm start -- [options]

  --host ADDR              address to listen on (default 127.0.0.1)
  --port N                 port (default 2222; 0 picks a free one)
  --dir DIR                recordings directory (default ${DEFAULT_RECORDING_DIR})
  --host-key FILE          host key, generated once if missing (default ${DEFAULT_HOST_KEY})
  --authorized-keys FILE   one authorized_keys file for every account
                           (default: each account's ~/.ssh/authorized_keys)
  --keepalive SECONDS      keepalive interval; 3 unanswered end the connection (default 15, 0 off)
  --login-grace-time SECONDS
                           time to authenticate before the connection is closed (default 120)
  --max-startups START:RATE:FULL
                           random early drop of new connections while others have not
                           authenticated, as sshd's MaxStartups (default 10:30:100)
  --per-source-max-startups N
                           connections not yet authenticated at once from one address
                           (an IPv6 /64); "none" for no bound (default 5)
  --max-recording-size N   cap each recording at N bytes (K, M, G suffixes); default none
  --min-free SIZE|PERCENT  free space recordings leave on DIR's file system: below it the
                           account that wrote most is cut and starts no recording, below half
                           of it every recording is cut and none starts (default 5%; none: off)
  --account-budget SIZE[/WINDOW]
                           bytes of recordings one account may write per window (s, m, h, d;
                           default 1h), e.g. 1G/24h; default none
  --record-thread          encode, seal and write recordings on a thread of their own, off the
                           connections' thread: for a host with cores to spare (default: off)
  --remote URL[,URL...]    stream each recording to these collectors (sshcast collect), in order
  --remote-token-file FILE this device's token at the collectors (mode 0600)
  --remote-device NAME     this device's name at the collectors (default: the host name)
  --remote-policy P        open (default): sessions never wait for the collector; closed: a
                           session is refused when no collector accepts its upload, and ended
                           when its copy lags more than --remote-max-lag
  --remote-max-lag SECONDS the lag limit of the closed policy (default 30)
  --pam-service NAME       PAM service of logins (default sshcast: /etc/pam.d/sshcast, see
                           docs/pam.md; PAM uses /etc/pam.d/other when that file is missing)
  -h, --help               this help

Recording is on when ${ENABLE_VARIABLE} is 1/true (Go's ParseBool).`;

function fail(message: string): never {
  process.stderr.write(`sshcast server: ${message}\n`);
  process.exit(1);
}

function parseFlags() {
  try {
    const { values } = parseArgs({
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '2222' },
        dir: { type: 'string' },
        'host-key': { type: 'string', default: DEFAULT_HOST_KEY },
        'authorized-keys': { type: 'string' },
        keepalive: { type: 'string', default: '15' },
        'login-grace-time': { type: 'string', default: '120' },
        'max-startups': { type: 'string' },
        'per-source-max-startups': { type: 'string' },
        'max-recording-size': { type: 'string' },
        'min-free': { type: 'string' },
        'account-budget': { type: 'string' },
        'record-thread': { type: 'boolean' },
        remote: { type: 'string' },
        'remote-token-file': { type: 'string' },
        'remote-device': { type: 'string' },
        'remote-policy': { type: 'string' },
        'remote-max-lag': { type: 'string' },
        'pam-service': { type: 'string', default: DEFAULT_PAM_SERVICE },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    return values;
  } catch (err) {
    return fail(`${(err as Error).message} (see --help)`);
  }
}

function number(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < min || n > max) fail(`invalid ${flag} ${JSON.stringify(text)}`);
  return n;
}

/** Reads the host key, or generates it (mode 0600) when the file does not exist. */
function loadHostKey(file: string): Buffer {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) fail(`--host-key ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0)
      fail(
        `--host-key ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    const key = fs.readFileSync(file);
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error)
      fail(`--host-key ${file} is not a usable private key: ${parsed.message}`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      fail(`cannot read --host-key ${file}: ${(err as Error).message}`);
  }
  const key = generateEd25519KeyPair().private;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    fail(`cannot create --host-key ${file}: ${(err as Error).message}`);
  }
  process.stdout.write(`generated host key ${file}\n`);
  return Buffer.from(key);
}

/** The --remote flags as the Recorder's `remote` option, or undefined without --remote. */
function remoteOptions(): RemoteOptions | undefined {
  const others = ['remote-token-file', 'remote-device', 'remote-policy', 'remote-max-lag'] as const;
  if (flags.remote === undefined) {
    const stray = others.find((f) => flags[f] !== undefined);
    if (stray) fail(`--${stray} needs --remote`);
    return undefined;
  }
  const urls = flags.remote.split(',').filter((u) => u !== '');
  const tokenFile = flags['remote-token-file'];
  if (!tokenFile) fail('--remote needs --remote-token-file');
  const policy = flags['remote-policy'] ?? 'open';
  if (policy !== 'open' && policy !== 'closed')
    fail(`invalid --remote-policy ${JSON.stringify(policy)}: open or closed`);
  const maxLag = number(flags['remote-max-lag'] ?? '30', '--remote-max-lag', 1, 86400);
  return {
    urls,
    token: readToken(tokenFile),
    device: flags['remote-device'] ?? os.hostname().split('.')[0]!,
    policy,
    maxLagMs: maxLag * 1000,
  };
}

/** The token in `file`: a regular file that only its owner can read, one line. */
function readToken(file: string): string {
  let text: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) fail(`--remote-token-file ${file} is not a regular file`);
      if ((st.mode & 0o077) !== 0)
        fail(
          `--remote-token-file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
        );
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    fail(`cannot read --remote-token-file ${file}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (!/^[\x21-\x7e]{16,512}$/.test(token))
    fail(`--remote-token-file ${file}: expected one token of 16 to 512 printable characters`);
  return token;
}

const flags = parseFlags();
if (flags.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}

// One line per event on stderr, control characters escaped: lines quote what clients send.
const log = escapingLogger();
let enabled: boolean;
let maxBytes: number | undefined;
let minFree: FreeSpaceFloor | false | undefined;
let accountBudget: AccountBudget | undefined;
let maxStartups: MaxStartups | undefined;
try {
  enabled = recordingEnabledFromEnv();
  if (flags['max-startups'] !== undefined)
    maxStartups = parseMaxStartups(flags['max-startups'], '--max-startups');
  if (flags['max-recording-size'] !== undefined)
    maxBytes = parseSize(flags['max-recording-size'], '--max-recording-size');
  if (flags['min-free'] !== undefined) minFree = parseMinFree(flags['min-free'], '--min-free');
  if (flags['account-budget'] !== undefined)
    accountBudget = parseAccountBudget(flags['account-budget'], '--account-budget');
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  throw err;
}
const port = number(flags.port!, '--port', 0, 65535);
const remote = remoteOptions();
const keepalive = number(flags.keepalive!, '--keepalive', 0, 86400);
const loginGraceMs = number(flags['login-grace-time']!, '--login-grace-time', 1, 86400) * 1000;
const perSource = flags['per-source-max-startups'];
const perSourceMaxStartups =
  perSource === undefined
    ? undefined
    : perSource === 'none'
      ? Infinity
      : number(perSource, '--per-source-max-startups', 1, 1_000_000);
const dir = path.resolve(flags.dir ?? DEFAULT_RECORDING_DIR);

let recorder: Recorder;
try {
  recorder = new Recorder({
    enabled,
    dir,
    log,
    ...(maxBytes !== undefined ? { maxBytes } : {}),
    ...(minFree !== undefined ? { minFree } : {}),
    ...(accountBudget ? { accountBudget } : {}),
    ...(remote ? { remote } : {}),
    ...(flags['record-thread'] ? { thread: true } : {}),
  });
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  throw err;
}
if (enabled) {
  try {
    recorder.check();
  } catch (err) {
    if (err instanceof SealingError) fail(`cannot seal ${dir}: ${err.message}`);
    if (err instanceof ConfigError) fail(err.message);
    fail(
      `cannot record to ${dir}: ${(err as Error).message}; choose a directory this user can write with --dir`,
    );
  }
  process.stdout.write(`recording to ${dir}\n`);
  process.stdout.write(
    describeDiskLimits({
      ...(minFree !== undefined ? { minFree } : {}),
      ...(accountBudget ? { accountBudget } : {}),
    }) + '\n',
  );
  // Sealing (DESIGN section 7) is on for a directory set up with `sshcast seal init`.
  const sealing = recorder.sealing;
  process.stdout.write(
    sealing
      ? `sealing: on (interval ${formatInterval(sealing.interval)})\n`
      : `sealing: off (sshcast seal init ${dir} turns it on)\n`,
  );
  if (remote)
    process.stdout.write(
      `streaming to ${remote.urls.join(',')} as ${remote.device}${remote.policy === 'closed' ? ' (policy closed)' : ''}\n`,
    );
} else {
  const value = process.env[ENABLE_VARIABLE];
  process.stdout.write(
    `recording off (${ENABLE_VARIABLE} ${value ? `is ${value}` : 'is not set'})\n`,
  );
}

const hostKey = loadHostKey(flags['host-key']!);
const authorizedKeysFile = flags['authorized-keys']
  ? path.resolve(flags['authorized-keys'])
  : undefined;
if (authorizedKeysFile && !fs.existsSync(authorizedKeysFile))
  fail(`--authorized-keys ${authorizedKeysFile} does not exist`);
const pam = { service: flags['pam-service']! };
let loginPolicy: string[] = [];
try {
  loginPolicy = describeLoginPolicy({ pam });
} catch (err) {
  if (err instanceof ConfigError) fail(`--pam-service: ${err.message}`);
  throw err;
}
const noPam = pamUnavailable();
if (noPam) fail(`PAM: ${noPam}`);
const authOptions = {
  log,
  pam,
  timeoutMs: loginGraceMs,
  ...(authorizedKeysFile ? { authorizedKeysFile } : {}),
};
process.stdout.write(describeAuthPolicy(authOptions) + '\n');
for (const line of loginPolicy) process.stdout.write(line + '\n');

const connections = new Set<ssh2.Connection>();
const server = new ssh2.Server({
  hostKeys: [hostKey],
  ...(keepalive > 0 ? { keepaliveInterval: keepalive * 1000, keepaliveCountMax: 3 } : {}),
});
server.on('connection', (client, info) => {
  connections.add(client);
  client.once('close', () => connections.delete(client));
  client.on('error', (err) => log(`connection ${info.ip}:${info.port}: ${err.message}`));
  limitChannels(client, undefined, log);
  void authenticate(client, info, authOptions).then((identity) => {
    if (identity) serveSessions(client, { identity, recorder, log });
  });
});
server.on('error', (err: Error) => log(`server: ${err.message}`));

const gate = limitConnections(server, {
  log,
  loginGraceMs,
  ...(maxStartups ? { maxStartups } : {}),
  ...(perSourceMaxStartups !== undefined ? { perSourceMaxStartups } : {}),
});
gate.server.on('error', (err) => fail(`cannot listen on ${flags.host}:${port}: ${err.message}`));
gate.server.listen(port, flags.host, () => {
  const address = gate.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`listening on ${host}:${address.port}\n`);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`${signal}: closing sessions`);
  gate.server.close();
  // Hanging up every connection ends its sessions: each process gets SIGHUP and each recording
  // its `x` event. A peer that stopped reading is cut after a second. Wait a little for the
  // recordings, then close whatever is left.
  for (const client of connections) hangUp(client, { graceMs: 1000 });
  const deadline = Date.now() + 5000;
  while (recorder.openRecordings.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await recorder.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

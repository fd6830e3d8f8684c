/**
 * Exit statuses and signals between a local process and an SSH channel (RFC 4254 §6.9, §6.10).
 */
import os from 'node:os';

/** The signal names RFC 4254 defines, without `SIG`; ssh2 can send and accept only these. */
export const SSH_SIGNALS: readonly string[] = [
  'ABRT',
  'ALRM',
  'FPE',
  'HUP',
  'ILL',
  'INT',
  'KILL',
  'PIPE',
  'QUIT',
  'SEGV',
  'TERM',
  'USR1',
  'USR2',
];

/**
 * The local signal for a name a client sent (`INT` or `SIGINT`), or undefined when it is not one
 * of RFC 4254's names.
 */
export function signalFromClient(name: string): NodeJS.Signals | undefined {
  const bare = name.startsWith('SIG') ? name.slice(3) : name;
  return SSH_SIGNALS.includes(bare) ? (`SIG${bare}` as NodeJS.Signals) : undefined;
}

/** The name (without `SIG`) of signal number `n`, when ssh can carry it. */
export function sshSignalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(os.constants.signals)) {
    if (num === n && SSH_SIGNALS.includes(name.slice(3))) return name.slice(3);
  }
  return undefined;
}

/** The number of a signal named as ssh names it (`KILL`, or `SIGKILL`); undefined if unknown. */
export function signalNumber(name: string): number | undefined {
  const full = (name.startsWith('SIG') ? name : `SIG${name}`) as NodeJS.Signals;
  return Object.hasOwn(os.constants.signals, full) ? os.constants.signals[full] : undefined;
}

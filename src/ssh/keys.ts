/**
 * Key generation that never hands out a broken key. ssh2 1.17's generateKeyPairSync('ed25519')
 * writes about 1 key in 200 that its own parser (and ssh-keygen) then rejects as malformed
 * (measured: 5 of 1000 here); a saved host key like that would stop every later start.
 */
import ssh2 from 'ssh2';
import { SshcastError } from '../errors.js';

/** An OpenSSH-format key pair. */
export interface KeyPair {
  /** The private key, OpenSSH PEM. */
  private: string;
  /** The public key, `ssh-ed25519 AAAA…`. */
  public: string;
}

/** Generates an ed25519 key pair whose private and public halves both parse. */
export function generateEd25519KeyPair(comment?: string): KeyPair {
  for (let i = 0; i < 100; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', comment ? { comment } : {});
    const priv = ssh2.utils.parseKey(pair.private);
    const pub = ssh2.utils.parseKey(pair.public);
    if (!(priv instanceof Error) && !(pub instanceof Error)) return pair;
  }
  throw new SshcastError('ERR_KEY_GENERATION', 'could not generate a valid ed25519 key');
}

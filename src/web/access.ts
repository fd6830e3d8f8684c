/**
 * Access control for the replay page: a secret token, which the page reads from the URL's
 * fragment, keeps in the origin's sessionStorage and sends in an `Authorization: Bearer` header
 * (never a cookie: browsers send a host's cookies to every port of it), and a `Host` check
 * against DNS rebinding.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** Characters a token may hold: it travels in a URL fragment and a header unescaped. */
const TOKEN_SHAPE = /^[A-Za-z0-9._~-]{16,512}$/;

/** A new random token: 32 bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Checks a token given by the user (`--token-file`): 16 to 512 characters from `A-Z a-z 0-9 . _ ~ -`.
 * Returns the problem, or undefined when it is fine.
 */
export function tokenProblem(token: string): string | undefined {
  if (TOKEN_SHAPE.test(token)) return undefined;
  return 'the token must be 16 to 512 characters of A-Z a-z 0-9 . _ ~ -';
}

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * The token of an `Authorization: Bearer TOKEN` header (the scheme is case-insensitive), or
 * undefined when there is none.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer +([^ ]+) *$/i.exec(header);
  return m ? m[1] : undefined;
}

/** How a host appears in a URL authority: IPv6 literals in brackets. */
export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * Whether a request's `Host` header names this server. It must be exactly the address served
 * (`host:port`, case-insensitive). A server bound to a wildcard address (`0.0.0.0`, `::`) cannot
 * know its name, so it accepts any IP literal with its port: an IP literal cannot be rebound by
 * DNS, a name can, so every name is refused.
 */
export function hostAllowed(header: string | undefined, boundHost: string, port: number): boolean {
  if (!header) return false;
  const value = header.trim().toLowerCase();
  if (value === `${hostForUrl(boundHost).toLowerCase()}:${port}`) return true;
  if (boundHost !== '0.0.0.0' && boundHost !== '::') return false;
  const m = /^(\[[0-9a-f:.]+\]|[0-9.]+):([0-9]+)$/.exec(value);
  if (!m || Number(m[2]) !== port) return false;
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return isIP(host) !== 0;
}

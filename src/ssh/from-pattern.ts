/**
 * sshd's `from="…"` key option: whether a client address matches a pattern list of wildcards
 * and CIDR blocks, with negation. Host names are never resolved (sshd's UseDNS is off by default).
 */
import net from 'node:net';

// OpenSSH's match_pattern: `*` any run, `?` one character; case-insensitive for hosts.
function globMatch(s: string, pattern: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(s);
}

function cidrMatch(ip: string, cidr: string): boolean | undefined {
  const [addr, bitsText] = cidr.split('/') as [string, string];
  const family = net.isIP(addr);
  const bits = Number(bitsText);
  if (!family || !/^\d+$/.test(bitsText) || bits > (family === 4 ? 32 : 128)) return undefined;
  if (net.isIP(ip) !== family) return false;
  const list = new net.BlockList();
  list.addSubnet(addr, bits, family === 4 ? 'ipv4' : 'ipv6');
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** The client address as sshd sees it: an IPv4-mapped IPv6 address becomes plain IPv4. */
export function normalizeAddress(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

/**
 * Whether a client address matches a `from=` pattern list, with sshd's rules: entries are
 * comma-separated wildcard patterns (`*`, `?`) or CIDR blocks, `!` negates; a negated match
 * refuses outright, otherwise one positive match is needed. A malformed CIDR entry refuses.
 * Host names are not resolved (sshd's UseDNS is off by default), so only addresses match.
 */
export function matchFrom(ip: string, patternList: string): boolean {
  const addr = normalizeAddress(ip);
  let positive = false;
  for (const raw of patternList.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (pattern === '') continue;
    const hit = pattern.includes('/') ? cidrMatch(addr, pattern) : globMatch(addr, pattern);
    if (hit === undefined) return false;
    if (hit && negated) return false;
    if (hit) positive = true;
  }
  return positive;
}

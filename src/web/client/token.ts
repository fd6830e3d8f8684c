/**
 * The page's token. `sshcast web` prints `http://HOST:PORT/#token=TOKEN`: a fragment never reaches
 * a server, a log or a Referer. The page moves it into this tab's sessionStorage and out of the
 * address bar and history. sessionStorage, not a cookie: a browser sends a host's cookies to every
 * port of that host, while storage belongs to one origin (scheme, host and port), where no other
 * page's script can read it. sessionStorage rather than localStorage: it lives only as long as the
 * tab, so nothing stays on disk for whatever listens on this port after the server is gone.
 */

const KEY = 'sshcast-token';

/** The token of this tab, taken from the URL's fragment the first time; undefined when none. */
export function pageToken(): string | undefined {
  const fragment = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fragment) {
    sessionStorage.setItem(KEY, fragment);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY) ?? undefined;
}

/** Drops a token the server refused (it was restarted with another one). */
export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** The page's requests to its server: the same origin, the token in a header, errors as text. */
import { forgetToken, pageToken } from './token.js';

const NO_TOKEN =
  'this tab has no token: open the URL that `sshcast web` printed (it ends in #token=…)';

async function request(url: string, method = 'GET'): Promise<Response> {
  const token = pageToken();
  if (token === undefined) throw new Error(NO_TOKEN);
  const res = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${token}` },
    credentials: 'omit',
    cache: 'no-store',
  });
  if (res.status === 401) forgetToken();
  if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim()}`);
  return res;
}

/** GETs JSON; rejects with the status and the server's one-line reason. */
export async function getJson<T>(url: string): Promise<T> {
  return (await (await request(url)).json()) as T;
}

/** GETs text; rejects with the status and the server's one-line reason. */
export async function getText(url: string): Promise<string> {
  return (await request(url)).text();
}

/** POSTs nothing and reads JSON back; rejects with the status and the server's reason. */
export async function postJson<T>(url: string): Promise<T> {
  return (await (await request(url, 'POST')).json()) as T;
}

/** The replay view of one recording. */
export function viewUrl(file: string): string {
  return `/view?file=${encodeURIComponent(file)}`;
}

/** How the server names a recording: its file name, or `DEVICE/NAME` in a collectors' store. */
export function recordingRef(s: { file: string; device?: string | undefined }): string {
  return s.device !== undefined ? `${s.device}/${s.file}` : s.file;
}

/** The page's requests to its server: the same origin and its credentials, errors as text. */

async function get(url: string): Promise<Response> {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim()}`);
  return res;
}

/** GETs JSON; rejects with the status and the server's one-line reason. */
export async function getJson<T>(url: string): Promise<T> {
  return (await (await get(url)).json()) as T;
}

/** GETs text; rejects with the status and the server's one-line reason. */
export async function getText(url: string): Promise<string> {
  return (await get(url)).text();
}

/** The replay view of one recording. */
export function viewUrl(file: string): string {
  return `/view?file=${encodeURIComponent(file)}`;
}

/** How the server names a recording: its file name, or `DEVICE/NAME` in a collectors' store. */
export function recordingRef(s: { file: string; device?: string | undefined }): string {
  return s.device !== undefined ? `${s.device}/${s.file}` : s.file;
}

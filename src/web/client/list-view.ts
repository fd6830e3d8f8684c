/**
/**
 * The list of recordings (`/`): one row per recording, filtered by user, command and date, and
 * by device when the server reads a collectors' store. It is read again every few seconds while
 * the tab is visible, so a recording that starts, goes live or ends shows without a reload.
 */
import { getJson, recordingRef, viewUrl } from './api.js';
import { $, el } from './dom.js';
import { day, duration, size, statusText, when, type Summary } from './summary-text.js';

function row(s: Summary, withDevice: boolean): HTMLTableRowElement {
  const tr = el(
    'tr',
    undefined,
    s.status === 'damaged' ? 'damaged' : undefined,
  ) as HTMLTableRowElement;
  tr.dataset.file = recordingRef(s);
  const start = el('td', undefined, 'when');
  const link = el('a', when(s)) as HTMLAnchorElement;
  link.href = viewUrl(recordingRef(s));
  link.title = s.file;
  start.append(link);
  const cmd = el('td', undefined, 'cmd');
  if (s.command !== undefined) cmd.append(el('code', s.command));
  else if (s.width === undefined) cmd.append(el('span', s.file, 'muted'));
  else cmd.append(el('span', s.title ?? 'shell', 'muted'));
  if (withDevice) tr.append(el('td', s.device ?? '—', 'device'));
  tr.append(
    start,
    el('td', duration(s.duration), 'num'),
    el('td', size(s.size), 'num'),
    el('td', s.localUser ?? '—'),
    cmd,
    el('td', statusText(s), `status status-${s.status}`),
  );
  return tr;
}

/** How often the list is read again. */
const REFRESH_MS = 3000;

/** Adds an option to `select` for each distinct non-empty value it does not have yet, sorted. */
function fill(select: HTMLSelectElement, values: (string | undefined)[]): void {
  const have = new Set(Array.from(select.options, (o) => o.value));
  for (const value of [...new Set(values)].sort()) {
    if (!value || have.has(value)) continue;
    const opt = el('option', value) as HTMLOptionElement;
    opt.value = value;
    select.append(opt);
  }
}

export async function listView(): Promise<void> {
  const body = document.querySelector('#recordings tbody') as HTMLTableSectionElement;
  const userSelect = $('f-user') as HTMLSelectElement;
  let all: Summary[] = [];
  let rows: { s: Summary; tr: HTMLTableRowElement }[] = [];
  let shownText = '';
  const deviceSelect = $('f-device') as HTMLSelectElement;
  let devicePicked = false;
  const command = $('f-command') as HTMLInputElement;
  const from = $('f-from') as HTMLInputElement;
  const to = $('f-to') as HTMLInputElement;
  const apply = (): void => {
    const user = userSelect.value;
    const device = deviceSelect.value;
    const needle = command.value.trim().toLowerCase();
    let shown = 0;
    for (const { s, tr } of rows) {
      const d = day(s);
      const ok =
        (!user || s.localUser === user) &&
        (!device || s.device === device) &&
        (!needle || (s.command ?? 'shell').toLowerCase().includes(needle)) &&
        (!from.value || d >= from.value) &&
        (!to.value || d <= to.value);
      tr.hidden = !ok;
      if (ok) shown++;
    }
    $('summary').textContent =
      shown === all.length
        ? `${all.length} recording${all.length === 1 ? '' : 's'}`
        : `${shown} of ${all.length} recordings`;
  };
  const load = async (): Promise<boolean> => {
    let text: string;
    try {
      text = JSON.stringify(await getJson<Summary[]>('/api/recordings'));
    } catch (err) {
      $('summary').textContent = '';
      const box = $('list-error');
      box.textContent = `Could not list recordings: ${(err as Error).message}`;
      box.hidden = false;
      return false;
    }
    if (text === shownText) return true;
    shownText = text;
    all = JSON.parse(text) as Summary[];
    fill(
      userSelect,
      all.map((s) => s.localUser),
    );
    // A collectors' store: a Device column and filter (`/?device=NAME` preselects one).
    const withDevice = all.some((s) => s.device !== undefined);
    if (withDevice) {
      fill(
        deviceSelect,
        all.map((s) => s.device),
      );
      if (!devicePicked) {
        deviceSelect.value = new URLSearchParams(location.search).get('device') ?? '';
        devicePicked = true;
      }
      $('f-device-box').hidden = false;
      $('h-device').hidden = false;
    }
    rows = all.map((s) => ({ s, tr: row(s, withDevice) }));
    body.replaceChildren(...rows.map((r) => r.tr));
    apply();
    return true;
  };

  for (const input of [deviceSelect, userSelect, command, from, to])
    input.addEventListener('input', apply);
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  if (!(await load())) return;
  const refresh = async (): Promise<void> => {
    if (document.visibilityState === 'visible' && !(await load())) return;
    setTimeout(() => void refresh(), REFRESH_MS);
  };
  setTimeout(() => void refresh(), REFRESH_MS);
}

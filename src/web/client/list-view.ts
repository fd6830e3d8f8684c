/**
 * The list of recordings (`/`): one row per recording, filtered by user, command and date, and
 * by device when the server reads a collectors' store.
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

/** Adds an option to `select` for each distinct non-empty value, sorted. */
function fill(select: HTMLSelectElement, values: (string | undefined)[]): void {
  for (const value of [...new Set(values)].sort()) {
    if (!value) continue;
    const opt = el('option', value) as HTMLOptionElement;
    opt.value = value;
    select.append(opt);
  }
}

export async function listView(): Promise<void> {
  const body = document.querySelector('#recordings tbody') as HTMLTableSectionElement;
  let all: Summary[];
  try {
    all = await getJson<Summary[]>('/api/recordings');
  } catch (err) {
    $('summary').textContent = '';
    const box = $('list-error');
    box.textContent = `Could not list recordings: ${(err as Error).message}`;
    box.hidden = false;
    return;
  }
  const userSelect = $('f-user') as HTMLSelectElement;
  fill(
    userSelect,
    all.map((s) => s.localUser),
  );
  // A collectors' store: a Device column and filter (`/?device=NAME` preselects one).
  const withDevice = all.some((s) => s.device !== undefined);
  const deviceSelect = $('f-device') as HTMLSelectElement;
  if (withDevice) {
    fill(
      deviceSelect,
      all.map((s) => s.device),
    );
    deviceSelect.value = new URLSearchParams(location.search).get('device') ?? '';
    $('f-device-box').hidden = false;
    $('h-device').hidden = false;
  }
  const rows = all.map((s) => ({ s, tr: row(s, withDevice) }));
  body.append(...rows.map((r) => r.tr));

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
  for (const input of [deviceSelect, userSelect, command, from, to])
    input.addEventListener('input', apply);
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  apply();
}

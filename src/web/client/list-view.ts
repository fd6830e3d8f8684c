/** The list of recordings (`/`): one row per recording, filtered by user, command and date. */
import { getJson, viewUrl } from './api.js';
import { $, el } from './dom.js';
import { day, duration, size, statusText, when, type Summary } from './summary-text.js';

function row(s: Summary): HTMLTableRowElement {
  const tr = el(
    'tr',
    undefined,
    s.status === 'damaged' ? 'damaged' : undefined,
  ) as HTMLTableRowElement;
  tr.dataset.file = s.file;
  const start = el('td', undefined, 'when');
  const link = el('a', when(s)) as HTMLAnchorElement;
  link.href = viewUrl(s.file);
  link.title = s.file;
  start.append(link);
  const cmd = el('td', undefined, 'cmd');
  if (s.command !== undefined) cmd.append(el('code', s.command));
  else if (s.width === undefined) cmd.append(el('span', s.file, 'muted'));
  else cmd.append(el('span', s.title ?? 'shell', 'muted'));
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
  for (const user of [...new Set(all.map((s) => s.localUser ?? ''))].sort()) {
    if (!user) continue;
    const opt = el('option', user) as HTMLOptionElement;
    opt.value = user;
    userSelect.append(opt);
  }
  const rows = all.map((s) => ({ s, tr: row(s) }));
  body.append(...rows.map((r) => r.tr));

  const command = $('f-command') as HTMLInputElement;
  const from = $('f-from') as HTMLInputElement;
  const to = $('f-to') as HTMLInputElement;
  const apply = (): void => {
    const user = userSelect.value;
    const needle = command.value.trim().toLowerCase();
    let shown = 0;
    for (const { s, tr } of rows) {
      const d = day(s);
      const ok =
        (!user || s.localUser === user) &&
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
  for (const input of [userSelect, command, from, to]) input.addEventListener('input', apply);
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  apply();
}

// pktexport's web console: log in, pick a source, look at its timeline,
// select a window, export it, follow and download the exports.  Times are
// nanoseconds as BigInt or as the API's strings ("SECONDS.NANOSECONDS"),
// never JavaScript numbers, which cannot hold epoch nanoseconds.
'use strict';

const EXPORTS = '/api/npm.packet_export/1.3/exports';
const PACKETS = '/api/npm.packet_export/1.3/packets/items/';
const TIMELINE = '/api/pktexport/1.0/timeline';
const SESSION = '/api/pktexport/1.0/session';
const PLUGINS = '/api/pktexport/1.0/plugins';
const VALIDATE = '/api/pktexport/1.0/filters/validate';
const NS = 1000000000n;

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------- times

// "1700000000.5" -> 1700000000500000000n; null when not such a time.
function parseTime(text) {
  const m = /^\s*(\d{1,11})(?:\.(\d{1,9}))?\s*$/.exec(text);
  if (!m) return null;
  return BigInt(m[1]) * NS + BigInt((m[2] || '').padEnd(9, '0') || '0');
}

function timeText(ns) {
  return (ns / NS).toString() + '.' + (ns % NS).toString().padStart(9, '0');
}

// A short label for a bucket: the date and time to the precision the
// timeline's span needs (computed from the string, no Number of epoch ns).
function label(text, spanNs) {
  const [sec, frac] = text.split('.');
  const d = new Date(Number(sec) * 1000);
  const hms = d.toISOString().slice(11, 19);
  const digits = spanNs < 10n * NS ? (spanNs < 10000000n ? 9 : 6) : spanNs < 600n * NS ? 3 : 0;
  return (spanNs > 86400n * NS ? d.toISOString().slice(5, 10) + ' ' : '') + hms +
    (digits ? '.' + frac.slice(0, digits) : '');
}

// --------------------------------------------------------------- API

// JSON text of a value whose BigInts are written as exact integers (the
// API's 64-bit limits do not fit a JavaScript number).
function jsonText(value) {
  const mark = 'bigint-' + Math.random().toString(36).slice(2) + ':';
  const text = JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? mark + v.toString() : v));
  return text.split('"' + mark).map((part, i) => (i ? part.replace(/^(\d+)"/, '$1') : part)).join('');
}

async function api(method, path, body) {
  const opts = {method, credentials: 'same-origin', headers: {Accept: 'application/json'}};
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = jsonText(body);
  }
  let r;
  try {
    r = await fetch(path, opts);
  } catch (e) {
    return {status: 0, doc: {error_text: 'the service cannot be reached'}};
  }
  const text = await r.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch (e) {
    doc = {error_text: text.slice(0, 200)};
  }
  if (r.status === 401 && path !== '/api/common/1.0/login') {
    // A session that ended (expired, or the service restarted): say so.
    showLogin($('app-view').hidden ? '' : (doc && doc.error_text) || 'Your session has ended.');
  }
  return {status: r.status, doc};
}

const errText = (res) => (res.doc && res.doc.error_text) || ('HTTP ' + res.status);

// ------------------------------------------------------------- login

// Back to the login form, with nothing of the last user's left on the
// page (sources, timeline, exports, the form's filters and windows).
function showLogin(message) {
  stopPolling();
  $('app-view').hidden = true;
  $('login-view').hidden = false;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('login-error').textContent = message || '';
  clearApp();
  $('username').focus();
}

function clearApp() {
  for (const tr of rows.values()) tr.remove();
  rows.clear();
  $('source').textContent = '';
  $('source-info').textContent = '';
  data = null;
  sel = null;
  drawChart();
  showSelection();
  $('timeline-info').textContent = '';
  $('filters').textContent = '';
  intervals.length = 0;
  drawIntervals();
  $('export-error').textContent = '';
}

async function showApp() {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  // Who is logged in (also after a reload); without access control
  // there is nobody to show and nothing to log out of.
  const who = await api('GET', SESSION);
  const ac = who.status !== 200 || who.doc.access_control;
  $('who').textContent = (who.status === 200 && who.doc.user) || '';
  $('logout').hidden = !ac;
  $('source').focus();
  await Promise.all([loadSources(), loadChoices()]);
  startPolling();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  const res = await api('POST', '/api/common/1.0/login',
    {username: $('username').value, password: $('password').value});
  $('password').value = '';
  if (res.status !== 200) {
    $('login-error').textContent = errText(res);
    return;
  }
  showApp();
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/api/common/1.0/logout', {});
  showLogin();
});

// The filter types and output formats of the service's plugins (a
// vendor's own among them); the page's list stays when it cannot say.
async function loadChoices() {
  const res = await api('GET', PLUGINS);
  if (res.status !== 200) return;
  const fill = (select, names) => {
    if (!names || !names.length) return;
    const keep = select.value;
    select.textContent = '';
    for (const n of names) {
      const o = document.createElement('option');
      o.value = n;
      o.textContent = n;
      select.appendChild(o);
    }
    if (names.includes(keep)) select.value = keep;
  };
  fill($('format'), res.doc.output_formats);
  fill($('filter-row').content.querySelector('.ftype'), res.doc.filter_types);
  for (const li of $('filters').children) fill(li.querySelector('.ftype'), res.doc.filter_types);
}

// ----------------------------------------------------------- sources

async function loadSources() {
  const sel = $('source');
  const keep = sel.value;
  const [jobs, clips, files] = await Promise.all([
    api('GET', '/api/npm.packet_capture/3.0/jobs'),
    api('GET', '/api/npm.clips/1.0/clips'),
    api('GET', '/api/npm.filesystem/1.0/fs'),
  ]);
  sel.textContent = '';
  const group = (name, items) => {
    if (!items.length) return;
    const g = document.createElement('optgroup');
    g.label = name;
    for (const [value, text] of items) {
      const o = document.createElement('option');
      o.value = value;
      o.textContent = text;
      g.appendChild(o);
    }
    sel.appendChild(g);
  };
  group('Stores', ((jobs.doc && jobs.doc.items) || []).map((j) => ['jobs/' + j.config.name, j.config.name]));
  group('Clips', ((clips.doc && clips.doc.items) || []).map((c) => ['clips/' + c.id, c.id +
    (c.config.description ? ' (' + c.config.description + ')' : '')]));
  // npm.filesystem's tree: the captures of fs/ and of every folder below.
  const captures = (dir, out) => {
    for (const f of (dir && dir.files && dir.files.items) || []) {
      if (f.type === 'PCAP_FILE' || f.type === 'PCAPNG_FILE') out.push(['fs' + f.id, f.id.replace(/^\//, '')]);
    }
    for (const sub of (dir && dir.dirs && dir.dirs.items) || []) captures(sub, out);
    return out;
  };
  group('Files', captures(files.status === 200 && files.doc.items && files.doc.items[0], []));
  if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
  if (sel.value) {
    view = {start: null, end: null};
    loadTimeline();
  } else {
    $('source-info').textContent = 'No source under the data root.';
  }
}

$('source').addEventListener('change', () => {
  view = {start: null, end: null};
  // The windows and the filters' checks were for the last source.
  intervals.length = 0;
  drawIntervals();
  for (const li of $('filters').children) validate(li);
  loadTimeline();
});
$('reload-sources').addEventListener('click', loadSources);

// ---------------------------------------------------------- timeline

let view = {start: null, end: null}; // BigInt ns, null: the source's
let data = null;                      // the last timeline answer
let chart = null;
let sel = null;                       // [first, last] bucket, inclusive
let cursor = 0;
let loading = 0;

async function loadTimeline() {
  const path = $('source').value;
  if (!path) return;
  // spread: each index entry's packets spread over its time span, so
  // intervals finer than the entries show traffic, not spikes and zeros
  // (estimates, exact at entries; doc/api.md, "Timeline").
  const q = new URLSearchParams({path, intervals: '200', spread: '1'});
  if (view.start !== null) q.set('start', timeText(view.start));
  if (view.end !== null) q.set('end', timeText(view.end));
  const mine = ++loading;
  $('timeline-info').textContent = 'Loading…';
  const res = await api('GET', TIMELINE + '?' + q);
  if (mine !== loading) return;
  if (res.status !== 200) {
    $('timeline-info').textContent = errText(res);
    data = null;
    drawChart();
    return;
  }
  data = res.doc;
  sel = null;
  cursor = 0;
  $('source-info').textContent = data.first_packet_time
    ? 'Packets from ' + data.first_packet_time + ' to ' + data.last_packet_time + ' s.'
    : 'No packets.';
  $('timeline-info').textContent = !data.items.length ? 'No packets in this source.'
    : data.start_time + ' to ' + data.end_time + ' s (UTC on the axis): ' +
    data.packets + ' packets in ' + data.intervals + ' intervals (counted at index ' +
    'entries, every 256 KiB of capture' +
    (data.spread ? ', spread evenly between them' : '') + '; ' +
    data.index_entries_read + ' entries read).';
  drawChart();
  showSelection();
}

function bucketEnd(i) {
  return i + 1 < data.items.length ? data.items[i + 1].start_time : data.end_time;
}

function drawChart() {
  const metric = $('metric').value;
  const items = data ? data.items : [];
  const span = data ? parseTime(data.end_time) - parseTime(data.start_time) : 0n;
  const labels = items.map((it) => label(it.start_time, span));
  const values = items.map((it) => it[metric]);
  $('chart').setAttribute('aria-label', (metric === 'bytes' ? 'Bytes' : 'Packets') +
    ' per interval. Drag, or use the arrow keys with Shift, to select a window; Enter zooms in, - zooms out.');
  if (typeof Chart === 'undefined') {
    $('chart-missing').hidden = false; // the chart library is not installed
    return;
  }
  if (!chart) {
    chart = new Chart($('chart'), {
      type: 'bar',
      data: {labels, datasets: [{label: metric, data: values, backgroundColor: '#3b6ea5',
        barPercentage: 1.0, categoryPercentage: 1.0}]},
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: {legend: {display: false}},
        scales: {x: {ticks: {maxRotation: 0, autoSkip: true}, title: {display: true, text: 'UTC'}},
          y: {beginAtZero: true}},
        events: ['mousemove', 'mouseout'],
      },
    });
  } else {
    chart.data.labels = labels;
    chart.data.datasets[0].data = values;
    chart.data.datasets[0].label = metric;
    chart.update();
  }
}

$('metric').addEventListener('change', drawChart);

// The bucket under a pixel of the canvas.
function bucketAt(clientX) {
  const area = chart.chartArea;
  const x = clientX - $('chart').getBoundingClientRect().left;
  const n = data.items.length;
  const i = Math.floor((x - area.left) / ((area.right - area.left) / n));
  return Math.max(0, Math.min(n - 1, i));
}

function showSelection() {
  const box = $('selection');
  if (!sel || !chart || !data || !data.items.length) {
    box.hidden = true;
    return;
  }
  const area = chart.chartArea;
  const w = (area.right - area.left) / data.items.length;
  box.style.left = (area.left + sel[0] * w) + 'px';
  box.style.width = Math.max(2, (sel[1] - sel[0] + 1) * w) + 'px';
  box.style.top = area.top + 'px';
  box.style.height = (area.bottom - area.top) + 'px';
  box.hidden = false;
}

// A selection fills the export form's window with the buckets' exact
// edges (strings from the service, never rounded).
function select(a, b) {
  if (!data || !data.items.length) return;
  sel = [Math.min(a, b), Math.max(a, b)];
  $('start').value = data.items[sel[0]].start_time;
  $('end').value = bucketEnd(sel[1]);
  checkWindow();
  showSelection();
  let p = 0;
  for (let i = sel[0]; i <= sel[1]; i++) p += data.items[i].packets;
  // With spread, a sum of estimates (exact when the edges are on index
  // entries); the export itself is exact.
  $('timeline-info').textContent = 'Selected ' + $('start').value + ' to ' + $('end').value +
    ' s: about ' + p + ' packets.';
}

let dragFrom = null;
$('chart').addEventListener('pointerdown', (ev) => {
  if (!data || !chart || !data.items.length) return;
  dragFrom = bucketAt(ev.clientX);
  $('chart').setPointerCapture(ev.pointerId);
  select(dragFrom, dragFrom);
});
$('chart').addEventListener('pointermove', (ev) => {
  if (dragFrom !== null) select(dragFrom, bucketAt(ev.clientX));
});
$('chart').addEventListener('pointerup', (ev) => {
  if (dragFrom === null) return;
  select(dragFrom, bucketAt(ev.clientX));
  cursor = bucketAt(ev.clientX);
  dragFrom = null;
});

$('chart').addEventListener('keydown', (ev) => {
  if (!data || !data.items.length) return;
  const n = data.items.length;
  const anchor = sel ? (cursor === sel[0] ? sel[1] : sel[0]) : cursor;
  let next = cursor;
  if (ev.key === 'ArrowLeft') next = Math.max(0, cursor - 1);
  else if (ev.key === 'ArrowRight') next = Math.min(n - 1, cursor + 1);
  else if (ev.key === 'Home') next = 0;
  else if (ev.key === 'End') next = n - 1;
  else if (ev.key === 'Enter') { zoomIn(); ev.preventDefault(); return; }
  else if (ev.key === '-') { zoomOut(); ev.preventDefault(); return; }
  else return;
  ev.preventDefault();
  cursor = next;
  select(ev.shiftKey ? anchor : next, next);
});

function zoomIn() {
  const s = parseTime($('start').value);
  const e = parseTime($('end').value);
  if (s === null || e === null || s >= e) return;
  view = {start: s, end: e};
  loadTimeline();
}

function zoomOut() {
  if (!data) return;
  const s = parseTime(data.start_time);
  const e = parseTime(data.end_time);
  // Twice as wide, and always wider (a window of 1 ns included).
  const half = (e - s) / 2n > 0n ? (e - s) / 2n : 1n;
  view = {start: s > half ? s - half : 0n, end: e + half};
  loadTimeline();
}

$('zoom-in').addEventListener('click', zoomIn);
$('zoom-out').addEventListener('click', zoomOut);
$('zoom-reset').addEventListener('click', () => {
  view = {start: null, end: null};
  loadTimeline();
});
window.addEventListener('resize', showSelection);

// ------------------------------------------------------- export form

function checkWindow() {
  const s = $('start').value.trim();
  const e = $('end').value.trim();
  let msg = '';
  if (s && parseTime(s) === null) msg = 'Start: seconds with up to 9 decimals.';
  else if (e && parseTime(e) === null) msg = 'End: seconds with up to 9 decimals.';
  else if (s && e && parseTime(s) >= parseTime(e)) msg = 'Start must be before end.';
  $('window-error').textContent = msg;
  $('start').setAttribute('aria-invalid', String(msg.startsWith('Start')));
  $('end').setAttribute('aria-invalid', String(msg.startsWith('End')));
  return !msg;
}
$('start').addEventListener('input', checkWindow);
$('end').addEventListener('input', checkWindow);

// Several windows (config.time_intervals), kept as the strings typed.
const intervals = [];
function drawIntervals() {
  const ul = $('intervals');
  ul.textContent = '';
  $('intervals-note').hidden = !intervals.length;
  $('intervals-note').textContent = intervals.length === 1
    ? 'The export takes the window listed here, not Start and End.'
    : 'The export takes the ' + intervals.length + ' windows listed here, not Start and End.';
  intervals.forEach((iv, i) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Remove';
    b.setAttribute('aria-label', 'Remove the window ' + iv.start_time + ' to ' + iv.end_time);
    b.addEventListener('click', () => {
      intervals.splice(i, 1);
      drawIntervals();
      $('add-interval').focus();
    });
    li.append(iv.start_time + ' – ' + iv.end_time + ' ', b);
    ul.appendChild(li);
  });
}
$('add-interval').addEventListener('click', () => {
  const s = $('start').value.trim();
  const e = $('end').value.trim();
  if (!checkWindow() || !s || !e) {
    $('window-error').textContent = 'A window needs a start and an end.';
    return;
  }
  intervals.push({start_time: s, end_time: e});
  drawIntervals();
});

let filterSeq = 0;
function addFilter(type, value) {
  const li = $('filter-row').content.firstElementChild.cloneNode(true);
  li.dataset.id = 'f' + (++filterSeq);
  if (type) li.querySelector('.ftype').value = type;
  if (value) li.querySelector('.fvalue').value = value;
  li.querySelector('.fremove').addEventListener('click', () => {
    li.remove();
    $('add-filter').focus();
  });
  let timer = null;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => validate(li), 400);
  };
  li.querySelector('.fvalue').addEventListener('input', later);
  li.querySelector('.ftype').addEventListener('change', later);
  $('filters').appendChild(li);
  li.querySelector('.fvalue').focus();
  return li;
}
$('add-filter').addEventListener('click', () => addFilter());

function filterOf(li) {
  return {id: li.dataset.id, type: li.querySelector('.ftype').value,
    value: li.querySelector('.fvalue').value};
}

function showFilterError(li, text) {
  li.querySelector('.ferror').textContent = text;
  li.querySelector('.fvalue').setAttribute('aria-invalid', String(!!text));
}

// Validation as one types, when the service offers it (debounced).
let canValidate = true;
async function validate(li) {
  const f = filterOf(li);
  if (!canValidate || !f.value.trim()) {
    showFilterError(li, '');
    return;
  }
  const res = await api('POST', VALIDATE, {path: $('source').value, filters: {items: [f]}});
  if (res.status === 404 && /^no resource/.test(errText(res))) {
    canValidate = false; // a service without the validation endpoint
    return;
  }
  if (filterOf(li).value !== f.value) return; // typed on meanwhile
  showFilterError(li, res.status === 200 ? '' : errText(res));
}

// The whole numbers of the form, checked as typed and sent exactly (as
// BigInt: a 64-bit limit does not fit a JavaScript number).  Empty or 0:
// not set.
const NUMBERS = {
  'snaplen': ['Snap length', 65535n],
  'packet-limit': ['Packet limit', 9223372036854775807n], // the service's 2^63-1
  'size-limit': ['Size limit', 9223372036854775807n],
  'time-limit': ['Time limit', 4294967295n],
};
function numberOf(id) {
  const text = $(id).value.trim();
  if (!/^\d*$/.test(text)) return null;
  const v = text ? BigInt(text) : 0n;
  return v <= NUMBERS[id][1] ? v : null;
}
function checkNumbers() {
  let msg = '';
  for (const id of Object.keys(NUMBERS)) {
    const bad = numberOf(id) === null;
    $(id).setAttribute('aria-invalid', String(bad));
    if (bad && !msg) {
      msg = NUMBERS[id][0] + ': a whole number from 0 to ' + NUMBERS[id][1] + ' (0: none).';
    }
  }
  $('numbers-error').textContent = msg;
  return !msg;
}
for (const id of Object.keys(NUMBERS)) $(id).addEventListener('input', checkNumbers);

$('mode').addEventListener('change', () => {
  const file = $('mode').value === 'STREAM_TO_FILE';
  $('outname').hidden = !file;
  $('outname-label').hidden = !file;
});

$('export-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('export-error').textContent = '';
  for (const li of $('filters').children) showFilterError(li, '');
  if (!checkWindow()) {
    $('start').focus();
    return;
  }
  if (!checkNumbers()) {
    $(Object.keys(NUMBERS).find((id) => numberOf(id) === null)).focus();
    return;
  }
  const cfg = {path: $('source').value, output_format: $('format').value, mode: $('mode').value};
  if (intervals.length) {
    cfg.time_intervals = intervals.slice();
  } else {
    if ($('start').value.trim()) cfg.start_time = $('start').value.trim();
    if ($('end').value.trim()) cfg.end_time = $('end').value.trim();
  }
  const sent = [...$('filters').children].filter((li) => filterOf(li).value.trim());
  if (sent.length) cfg.filters = {items: sent.map(filterOf)};
  if (numberOf('snaplen') > 0n) cfg.snap_length = numberOf('snaplen');
  const stop = {};
  if (numberOf('packet-limit') > 0n) stop.packet_limit = numberOf('packet-limit');
  if (numberOf('size-limit') > 0n) stop.size_limit = numberOf('size-limit');
  if (numberOf('time-limit') > 0n) stop.time_limit = numberOf('time-limit');
  if (Object.keys(stop).length) cfg.stop_rule = stop;
  if (cfg.mode === 'STREAM_TO_FILE') cfg.output_filename = $('outname').value;
  const res = await api('POST', EXPORTS, {config: cfg});
  if (res.status === 201) {
    pollExports();
    return;
  }
  // The service's own message, at the filter it names when it names one:
  // by its id in quotes (filter "f1"; never f1 inside "f10") or by its
  // place in the request (config.filters.items[N]).
  const text = errText(res);
  const at = /config\.filters\.items\[(\d+)\]/.exec(text);
  const li = at ? sent[Number(at[1])] : sent.find((l) => text.includes('"' + l.dataset.id + '"'));
  if (li) {
    showFilterError(li, text);
    li.querySelector('.fvalue').focus();
  } else {
    $('export-error').textContent = text;
  }
});

// ------------------------------------------------------- export list

// One poll at a time: the next starts a second after the last ended (or
// four times as long as it took, when the list is long).
let pollTimer = null;
let pollRound = 0;
function startPolling() {
  stopPolling();
  const round = pollRound;
  const next = async () => {
    const t0 = performance.now();
    await pollExports();
    if (round !== pollRound) return;
    pollTimer = setTimeout(next, Math.max(1000, 4 * (performance.now() - t0)));
  };
  next();
}
function stopPolling() {
  pollRound++;
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
}

const rows = new Map();

function cell(tr, i, text) {
  if (tr.cells[i].textContent !== text) tr.cells[i].textContent = text;
}

function newRow(id) {
  const tr = document.createElement('tr');
  tr.dataset.id = id;
  const heads = $('exports').tHead.rows[0].cells;
  for (let i = 0; i < 8; i++) {
    const td = document.createElement('td');
    td.dataset.label = heads[i].textContent; // shown before it in a narrow window
    tr.appendChild(td);
  }
  const dl = document.createElement('a');
  dl.textContent = 'Download';
  dl.className = 'download';
  dl.href = PACKETS + id;
  dl.setAttribute('download', '');
  const del = document.createElement('button');
  del.type = 'button';
  del.textContent = 'Delete';
  del.className = 'delete';
  del.addEventListener('click', async () => {
    const res = await api('DELETE', EXPORTS + '/items/' + id);
    if (res.status !== 204 && res.status !== 404) {
      $('list-error').textContent = errText(res);
      return;
    }
    $('list-error').textContent = '';
    // The keyboard's place: the next row's Delete, else the list.
    const after = tr.nextElementSibling || tr.previousElementSibling;
    tr.remove();
    rows.delete(id);
    (after ? after.querySelector('.delete') : $('list-title')).focus();
    pollExports();
  });
  tr.cells[7].append(dl, ' ', del);
  return tr;
}

async function pollExports() {
  const res = await api('GET', EXPORTS);
  if (res.status !== 200 || $('app-view').hidden) return; // or logged out meanwhile
  const tbody = $('exports').tBodies[0];
  const items = res.doc.items.slice().reverse();
  const seen = new Set(items.map((e) => e.id));
  for (const [id, tr] of rows) {
    if (!seen.has(id)) {
      tr.remove();
      rows.delete(id);
    }
  }
  let place = 0;
  for (const e of items) {
    let tr = rows.get(e.id);
    if (!tr) {
      tr = newRow(e.id);
      rows.set(e.id, tr);
    }
    // Newest first.  A row already in its place is not moved: moving it
    // would take the keyboard's focus off its link or button.
    if (tbody.rows[place] !== tr) tbody.insertBefore(tr, tbody.rows[place] || null);
    place++;
    const st = e.status || {};
    const stats = st.stats || {};
    const c = e.config;
    tr.dataset.state = st.state;
    cell(tr, 0, c.path);
    cell(tr, 1, c.time_intervals && c.time_intervals.length
      ? c.time_intervals.map((iv) => iv.start_time + ' – ' + iv.end_time).join(', ')
      : c.start_time || c.end_time ? (c.start_time || 'start') + ' – ' + (c.end_time || 'end')
        : 'the whole source');
    cell(tr, 2, st.state || '');
    cell(tr, 3, Math.round(st.progress || 0) + '%'); // 0 to 100
    cell(tr, 4, String(stats.exported_packets ?? stats.estimated_packets ?? ''));
    cell(tr, 5, String(stats.exported_bytes ?? stats.estimated_bytes ?? ''));
    cell(tr, 6, (st.error && st.error.error_text) || '');
    const dl = tr.querySelector('.download');
    if (c.mode === 'STREAM_TO_FILE') {
      // The file it wrote, through npm.filesystem, once it is whole.
      dl.hidden = st.state !== 'DONE';
      const href = '/api/npm.filesystem/1.0/fileop/download/' +
        String(c.output_filename || '').split('/').map(encodeURIComponent).join('/');
      if (dl.getAttribute('href') !== href) dl.setAttribute('href', href);
    } else {
      dl.hidden = st.state !== 'READY';
    }
  }
}

// -------------------------------------------------------------- start

(async () => {
  const res = await api('GET', EXPORTS);
  if (res.status === 200) showApp();
})();

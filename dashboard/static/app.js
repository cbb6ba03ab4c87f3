// rediskit dashboard: plain JS, no build step. Every value from Redis is
// put in the page with textContent (h() below), never as HTML.
'use strict';

const S = { csrf: '', readOnly: false, timer: null, history: {} };
const REFRESH_MS = 2000;

// h(tag, attrs, ...children) builds an element; strings become text.
function h(tag, attrs, ...kids) {
  const isSvg = ['svg', 'rect', 'polyline', 'line', 'title'].includes(tag);
  const el = isSvg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path) {
  const r = await fetch('api/' + path, { credentials: 'same-origin' });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

async function act(name, body, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return null;
  if (confirmText) body.confirm = true;
  try {
    const r = await fetch('api/action/' + name, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': S.csrf },
      body: JSON.stringify(body),
    });
    const res = await r.json().catch(() => ({ error: r.statusText }));
    if (!r.ok) throw new Error(res.error || r.statusText);
    flash(name + ' done' + (res.count !== undefined ? ': ' + res.count : '') + (res.id ? ' (' + res.id + ')' : ''));
    render();
    return res;
  } catch (e) {
    flash(name + ' failed: ' + e.message, true);
    return null;
  }
}

function flash(text, isErr) {
  const f = document.getElementById('flash');
  f.textContent = text;
  f.className = 'flash' + (isErr ? ' error' : '');
}

const fmt = {
  bytes(n) {
    if (!n) return '0 B';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + ' ' + u[i];
  },
  pct(x) { return x < 0 ? '–' : (x * 100).toFixed(1) + '%'; },
  time(ms) { return ms ? new Date(ms).toLocaleString() : ''; },
  ago(ms) {
    if (!ms) return '';
    const s = Math.round((Date.now() - ms) / 1000);
    if (Math.abs(s) < 60) return s + 's ago';
    if (Math.abs(s) < 3600) return Math.round(s / 60) + 'm ago';
    return Math.round(s / 3600) + 'h ago';
  },
  num(n) { return (n || 0).toLocaleString(); },
  json(s) {
    try { return JSON.stringify(typeof s === 'string' ? JSON.parse(s) : s, null, 2); } catch (e) { return String(s); }
  },
};

// sparkline draws values (oldest first) as a small SVG line.
function sparkline(values, w = 90, hgt = 20) {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const pts = values.map((v, i) => (i * step).toFixed(1) + ',' + (hgt - (v / max) * (hgt - 2) - 1).toFixed(1)).join(' ');
  return h('svg', { class: 'chart spark', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}` }, h('polyline', { class: 'line', points: pts }));
}

// bars draws two series (oldest first) as grouped bars: completed, failed.
function bars(a, b, w = 480, hgt = 80) {
  const n = Math.max(a.length, b.length, 1);
  const max = Math.max(1, ...a, ...b);
  const bw = w / n;
  const kids = [];
  for (let i = 0; i < n; i++) {
    const va = a[i] || 0, vb = b[i] || 0;
    const ha = (va / max) * (hgt - 4), hb = (vb / max) * (hgt - 4);
    kids.push(h('rect', { class: 'b1', x: (i * bw).toFixed(1), y: (hgt - ha).toFixed(1), width: Math.max(1, bw / 2 - 1).toFixed(1), height: ha.toFixed(1) },
      h('title', {}, `${n - i} min ago: ${va} completed`)));
    kids.push(h('rect', { class: 'b2', x: (i * bw + bw / 2).toFixed(1), y: (hgt - hb).toFixed(1), width: Math.max(1, bw / 2 - 1).toFixed(1), height: hb.toFixed(1) },
      h('title', {}, `${n - i} min ago: ${vb} failed`)));
  }
  return h('svg', { class: 'chart', id: 'throughput', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}` }, kids);
}

function table(headers, rows, attrs) {
  return h('table', attrs || {},
    h('thead', {}, h('tr', {}, headers.map(c => h('th', { class: /^[#]|num$/.test(c) ? 'num' : null }, c.replace(/ num$/, ''))))),
    h('tbody', {}, rows));
}

function route() {
  const hash = location.hash.replace(/^#\/?/, '') || 'cluster';
  const [path, query] = hash.split('?');
  const parts = path.split('/').map(decodeURIComponent);
  return { page: parts[0], parts, q: new URLSearchParams(query || '') };
}

function link(text, hash, attrs) { return h('a', Object.assign({ href: '#/' + hash }, attrs || {}), text); }

// ---- pages ----

const pages = {};

pages.cluster = async () => {
  const c = await api('cluster');
  const up = c.nodes.filter(n => n.up).length;
  const hist = S.history;
  for (const n of c.nodes) {
    const a = hist[n.addr] || (hist[n.addr] = []);
    a.push(n.opsPerSec);
    if (a.length > 60) a.shift();
  }
  const stateBadge = c.mode === 'cluster'
    ? h('span', { class: 'badge ' + (c.clusterState === 'ok' ? 'ok' : 'bad'), id: 'cluster-state' }, 'cluster_state ' + (c.clusterState || 'unknown'))
    : h('span', { class: 'badge', id: 'cluster-state' }, c.mode);
  const slow = c.nodes.flatMap(n => (n.slowlog || []).map(e => Object.assign({ node: n.addr }, e)))
    .sort((x, y) => y.micros - x.micros).slice(0, 15);
  return [
    h('h1', {}, 'Cluster ', stateBadge),
    h('div', { class: 'cards' },
      card('nodes up', `${up} / ${c.nodes.length}`),
      c.mode === 'cluster' ? card('slots ok', `${c.slotsOk} / 16384`) : null,
      card('ops/s', fmt.num(Math.round(c.nodes.reduce((s, n) => s + (n.opsPerSec || 0), 0)))),
      card('memory', fmt.bytes(c.nodes.filter(n => n.role === 'master').reduce((s, n) => s + n.usedMemory, 0))),
      card('keys', fmt.num(c.nodes.filter(n => n.role === 'master').reduce((s, n) => s + n.keys, 0)))),
    h('div', { class: 'toolbar', id: 'policy' }, 'Memory policy fit: ',
      c.policy.map(p => h('span', { class: 'badge ' + p.fit, title: (p.findings || []).map(f => `${f.Node}: ${f.Problem} (fix: ${f.Fix})`).join('\n') }, `${p.role}: ${p.fit}`))),
    table(['', 'node', 'role', 'master', 'slots num', 'ops/s num', '', 'memory', 'frag num', 'hit rate num', 'clients num', 'keys num', 'lag', 'version', 'state'],
      c.nodes.map(n => h('tr', { class: 'node ' + (n.up ? (n.err ? 'warn' : 'ok') : 'down'), 'data-addr': n.addr, 'data-up': String(n.up) },
        h('td', {}, h('span', { class: 'dot ' + (n.up ? (n.err ? 'warn' : 'ok') : 'bad') })),
        h('td', { class: 'addr mono' }, n.addr),
        h('td', {}, n.role),
        h('td', { class: 'mono' }, n.master || ''),
        h('td', { class: 'num', title: n.slotRanges || '' }, n.slots || ''),
        h('td', { class: 'num' }, n.up ? fmt.num(n.opsPerSec) : ''),
        h('td', {}, n.up ? sparkline(hist[n.addr]) : ''),
        h('td', {}, n.up ? [fmt.bytes(n.usedMemory), n.maxMemory ? ' / ' + fmt.bytes(n.maxMemory) : '',
          n.maxMemory ? h('span', { class: 'bar' }, barFill(n.usedMemory / n.maxMemory)) : '', ' ', h('span', { class: 'muted' }, n.policy)] : ''),
        h('td', { class: 'num' }, n.up ? n.fragmentation.toFixed(2) : ''),
        h('td', { class: 'num' }, n.up ? fmt.pct(n.hitRate) : ''),
        h('td', { class: 'num' }, n.up ? `${n.clients}${n.blocked ? ' (' + n.blocked + ' blocked)' : ''}` : ''),
        h('td', { class: 'num' }, n.up ? fmt.num(n.keys) : ''),
        h('td', {}, n.role === 'replica' && n.up ? `${fmt.bytes(n.lagBytes)}, ${n.lagSeconds}s` : ''),
        h('td', {}, n.version || ''),
        h('td', { class: 'state' }, n.up ? (n.err ? n.err : 'ok') : h('span', { class: 'err' }, 'DOWN: ' + (n.err || 'no answer')))))),
    h('h2', {}, 'Slow log (slowest recent, all nodes)'),
    slow.length ? table(['node', 'when', 'µs num', 'command'], slow.map(e => h('tr', {},
      h('td', { class: 'mono' }, e.node), h('td', {}, fmt.ago(Date.parse(e.time))), h('td', { class: 'num' }, fmt.num(e.micros)),
      h('td', { class: 'mono truncate' }, e.command)))) : h('p', { class: 'muted' }, 'empty'),
  ];
};

function barFill(frac) {
  const s = h('span', {});
  s.style.width = Math.min(100, Math.round(frac * 100)) + '%';
  return s;
}

function card(k, v) { return h('div', { class: 'card' }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k)); }

const STATES = ['waiting', 'active', 'prioritized', 'delayed', 'completed', 'failed', 'waiting-children'];

pages.queues = async () => {
  const r = await api('queues');
  return [
    h('h1', {}, 'Queues'),
    r.truncated ? h('p', { class: 'err' }, 'More queues exist than the dashboard lists (MaxQueues).') : null,
    r.queues.length === 0 ? h('p', { class: 'muted', id: 'no-queues' }, 'No BullMQ queue found (SCAN for *:meta on every master).') :
      table(['queue', 'prefix', 'version', ...STATES.map(s => s + ' num'), ''],
        r.queues.map(q => h('tr', { class: 'queue', 'data-queue': q.id },
          h('td', {}, link(q.name, 'queue/' + encodeURIComponent(q.id)), q.paused ? [' ', h('span', { class: 'badge paused' }, 'paused')] : ''),
          h('td', { class: 'mono' }, q.prefix),
          h('td', { class: 'muted' }, q.version || ''),
          STATES.map(s => h('td', { class: 'num count-' + s, 'data-state': s }, link(fmt.num(q.counts[s]), `queue/${encodeURIComponent(q.id)}?state=${s}`))),
          h('td', { class: 'err' }, q.err || '')))),
  ];
};

pages.queue = async (rt) => {
  const id = rt.parts[1];
  const state = rt.q.get('state') || 'waiting';
  const start = +(rt.q.get('start') || 0);
  const count = 20;
  const [q, jobs, scheds] = await Promise.all([
    api('queue?queue=' + encodeURIComponent(id)),
    api(`jobs?queue=${encodeURIComponent(id)}&state=${state}&start=${start}&count=${count}`),
    api('schedulers?queue=' + encodeURIComponent(id)),
  ]);
  const ro = S.readOnly;
  const qh = (st, st2) => `queue/${encodeURIComponent(id)}?state=${st}${st2 !== undefined ? '&start=' + st2 : ''}`;
  return [
    h('h1', {}, 'Queue ', h('span', { id: 'queue-name' }, q.name), ' ',
      h('span', { class: 'badge ' + (q.paused ? 'paused' : 'ok'), id: 'queue-status' }, q.paused ? 'paused' : 'running'),
      ' ', h('span', { class: 'muted mono' }, q.prefix + ' · ' + (q.version || ''))),
    q.err ? h('p', { class: 'err' }, q.err) : null,
    h('div', { class: 'toolbar' },
      q.paused ? h('button', { id: 'resume', disabled: ro, onclick: () => act('resume', { queue: id }) }, 'Resume')
        : h('button', { id: 'pause', disabled: ro, onclick: () => act('pause', { queue: id }) }, 'Pause'),
      h('button', { id: 'retry-all', disabled: ro || !q.counts.failed, onclick: () => act('retry-all', { queue: id }) }, `Retry all failed (${q.counts.failed})`),
      h('button', { id: 'promote-all', disabled: ro || !q.counts.delayed, onclick: () => act('promote-all', { queue: id }) }, `Promote all delayed (${q.counts.delayed})`),
      cleanForm(id, ro),
    ),
    h('h2', {}, 'Throughput (per minute, last hour; from BullMQ metrics)'),
    (q.completedPerMinute.length || q.failedPerMinute.length)
      ? bars(q.completedPerMinute.slice().reverse(), q.failedPerMinute.slice().reverse())
      : h('p', { class: 'muted' }, 'No metrics:* keys: start workers with BullMQ metrics enabled to see charts.'),
    h('div', { class: 'tabs', id: 'states' }, STATES.map(s => link(`${s} (${fmt.num(q.counts[s])})`, qh(s), { class: s === state ? 'active' : null, 'data-state': s }))),
    searchBox(id),
    h('div', { id: 'results' }),
    jobTable(id, jobs.jobs, state, ro, 'jobs'),
    h('div', { class: 'toolbar' },
      start > 0 ? link('← newer', qh(state, Math.max(0, start - count)), { id: 'prev' }) : null,
      h('span', { class: 'muted' }, jobs.total ? `${start + 1}–${start + jobs.jobs.length} of ${fmt.num(jobs.total)}` : 'no jobs'),
      start + count < jobs.total ? link('older →', qh(state, start + count), { id: 'next' }) : null),
    h('h2', {}, 'Add a job'),
    addForm(id, ro),
    h('h2', {}, `Schedulers (${scheds.length})`),
    scheds.length ? table(['id', 'name', 'next run', 'pattern / every', 'tz', 'iterations num', 'limit num'], scheds.map(s => h('tr', {},
      h('td', { class: 'mono' }, s.id), h('td', {}, s.name), h('td', {}, fmt.time(s.next)),
      h('td', { class: 'mono' }, s.pattern || (s.every ? `every ${s.every} ms` : '')), h('td', {}, s.tz || ''),
      h('td', { class: 'num' }, s.iterations), h('td', { class: 'num' }, s.limit || '')))) : h('p', { class: 'muted' }, 'none'),
    h('h2', {}, `Workers (${q.workers.length})`),
    q.workersErr ? h('p', { class: 'err' }, q.workersErr) : null,
    q.workers.length ? table(['name', 'client', 'node', 'age', 'idle', 'last command'], q.workers.map(w => h('tr', { class: 'worker' },
      h('td', {}, w.name || '(unnamed)'), h('td', { class: 'mono' }, w.addr), h('td', { class: 'mono' }, w.node),
      h('td', {}, w.ageSeconds + 's'), h('td', {}, w.idleSeconds + 's'), h('td', { class: 'mono' }, w.cmd)))) : h('p', { class: 'muted' }, 'no worker connected'),
  ];
};

function jobTable(qid, jobs, state, ro, tid) {
  if (!jobs.length) return h('p', { class: 'muted', id: tid + '-empty' }, 'no jobs');
  return table(['id', 'name', 'state', 'created', 'finished', 'attempts num', 'data', 'reason', ''], jobs.map(j => {
    const st = j.state || state;
    return h('tr', { class: 'job', 'data-id': j.id },
      h('td', { class: 'mono' }, link(j.id, `job/${encodeURIComponent(qid)}/${encodeURIComponent(j.id)}`)),
      h('td', {}, j.name), h('td', {}, st), h('td', {}, fmt.ago(j.timestamp)), h('td', {}, fmt.ago(j.finishedOn)),
      h('td', { class: 'num' }, j.attemptsMade), h('td', { class: 'mono truncate' }, j.data), h('td', { class: 'err truncate' }, j.failedReason || ''),
      h('td', {}, jobButtons(qid, j.id, st, ro)));
  }), { id: tid });
}

function jobButtons(qid, id, st, ro) {
  return [
    st === 'failed' ? h('button', { class: 'retry', disabled: ro, onclick: () => act('retry', { queue: qid, id }) }, 'Retry') : null,
    st === 'delayed' ? h('button', { class: 'promote', disabled: ro, onclick: () => act('promote', { queue: qid, id }) }, 'Promote') : null,
    h('button', { class: 'remove danger', disabled: ro, onclick: () => act('remove', { queue: qid, id }, `Remove job ${id}? This cannot be undone.`) }, 'Remove'),
  ];
}

function cleanForm(id, ro) {
  const st = h('select', { id: 'clean-state' }, ['completed', 'failed', 'delayed', 'prioritized', 'waiting', 'active'].map(s => h('option', { value: s }, s)));
  const grace = h('input', { id: 'clean-grace', type: 'number', min: 0, value: 3600, size: 6, title: 'older than (seconds)' });
  return h('form', { class: 'inline', onsubmit: (e) => {
    e.preventDefault();
    act('clean', { queue: id, state: st.value, graceMs: (+grace.value || 0) * 1000 },
      `Delete ${st.value} jobs of ${id} older than ${grace.value}s (at most 5000)? This cannot be undone.`);
  } }, 'Clean', st, 'older than', grace, 's', h('button', { class: 'danger', id: 'clean', disabled: ro }, 'Clean'));
}

function addForm(id, ro) {
  const name = h('input', { id: 'add-name', placeholder: 'job name', required: true });
  const data = h('textarea', { id: 'add-data', placeholder: '{"json": "data"}' }, '{}');
  const opts = h('input', { id: 'add-opts', placeholder: '{"priority": 1, "delay": 0, "attempts": 3, "jobId": "..."}', size: 50 });
  return h('form', { onsubmit: (e) => {
    e.preventDefault();
    let d, o;
    try { d = JSON.parse(data.value || '{}'); o = opts.value ? JSON.parse(opts.value) : undefined; } catch (err) { flash('add: not JSON: ' + err.message, true); return; }
    act('add', { queue: id, name: name.value, data: d, opts: o });
  } }, h('div', { class: 'toolbar' }, name, opts, h('button', { id: 'add', disabled: ro }, 'Add')), data);
}

function searchBox(id) {
  const text = h('input', { id: 'search-text', placeholder: 'job id, name, data or failed reason', size: 40 });
  const field = h('select', { id: 'search-field' }, ['any', 'id', 'name', 'data', 'reason'].map(s => h('option', { value: s }, s)));
  let cursor = '';
  const run = async (more) => {
    const out = document.getElementById('results');
    if (!more) { cursor = ''; out.replaceChildren(h('p', { class: 'muted' }, 'searching…')); }
    try {
      const r = await api(`search?queue=${encodeURIComponent(id)}&text=${encodeURIComponent(text.value)}&field=${field.value}` + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      cursor = r.cursor;
      const prev = more ? [...out.querySelectorAll('tr.job')].map(tr => tr.dataset.id) : [];
      const rows = r.jobs.filter(j => !prev.includes(j.id));
      const old = more ? out.querySelector('table') : null;
      const t = jobTable(id, rows, '', S.readOnly, 'search-results');
      if (old && t.tagName === 'TABLE') old.querySelector('tbody').append(...t.querySelectorAll('tbody tr'));
      else if (!old) out.replaceChildren(h('h2', {}, 'Search results'), t);
      out.querySelector('.more')?.remove();
      out.append(h('div', { class: 'toolbar more' }, h('span', { class: 'muted', id: 'search-status' },
        `${out.querySelectorAll('tr.job').length} found; examined ${r.examined} jobs in this step` + (cursor ? '' : '; done')),
        cursor ? h('button', { id: 'search-more', onclick: () => run(true) }, 'Search further') : null));
    } catch (e) { out.replaceChildren(h('p', { class: 'err' }, 'search: ' + e.message)); }
  };
  return h('form', { class: 'toolbar', id: 'search', onsubmit: (e) => { e.preventDefault(); pause(); run(false); } },
    'Search', text, field, h('button', { id: 'search-go' }, 'Search'));
}

// pause stops live refresh (searching, reading a job): the page would
// otherwise replace what the user looks at.
function pause() { document.getElementById('live').checked = false; }

pages.job = async (rt) => {
  const qid = rt.parts[1], id = rt.parts[2];
  const j = await api(`job?queue=${encodeURIComponent(qid)}&id=${encodeURIComponent(id)}`);
  const kv = (pairs) => h('dl', { class: 'kv' }, pairs.filter(p => p[1] !== '' && p[1] !== undefined && p[1] !== null).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  return [
    h('h1', {}, 'Job ', h('span', { class: 'mono', id: 'job-id' }, j.id), ' ', h('span', { class: 'badge ' + (j.state === 'failed' ? 'bad' : j.state === 'completed' ? 'ok' : ''), id: 'job-state' }, j.state || 'unknown')),
    h('p', {}, link('← queue ' + qid, 'queue/' + encodeURIComponent(qid) + (j.state ? '?state=' + j.state : ''))),
    j.parseErr ? h('p', { class: 'err' }, j.parseErr) : null,
    h('div', { class: 'toolbar' }, jobButtons(qid, j.id, j.state, S.readOnly)),
    h('div', { class: 'grid2' },
      h('div', {}, h('h2', {}, 'Job'), kv([
        ['name', j.name], ['created', fmt.time(j.timestamp)], ['processed', fmt.time(j.processedOn)], ['finished', fmt.time(j.finishedOn)],
        ['attempts made', String(j.attemptsMade)], ['attempts started', String(j.attemptsStarted)], ['stalled', String(j.stalledCounter)],
        ['priority', j.priority ? String(j.priority) : ''], ['delay', j.delayMs ? j.delayMs + ' ms' : ''],
        ['processed by', j.processedBy], ['lock TTL', j.lockTtlMs ? j.lockTtlMs + ' ms' : ''],
        ['progress', j.progress !== undefined ? JSON.stringify(j.progress) : ''],
        ['parent', j.parent ? h('span', { class: 'mono' }, j.parent) : ''],
        ['scheduler', j.scheduler ? `${j.scheduler.id} (${j.scheduler.pattern || 'every ' + j.scheduler.every + ' ms'}, next ${fmt.time(j.scheduler.next)}, ${j.scheduler.iterations} iterations)` : ''],
      ])),
      h('div', {}, h('h2', {}, 'Data'), h('pre', { id: 'job-data' }, fmt.json(j.data)),
        h('h2', {}, 'Options'), h('pre', {}, fmt.json(j.opts || {})))),
    j.returnValue !== undefined ? [h('h2', {}, 'Return value'), h('pre', { id: 'job-return' }, fmt.json(j.returnValue))] : null,
    j.failedReason ? [h('h2', {}, 'Failed reason'), h('pre', { class: 'err', id: 'job-reason' }, j.failedReason)] : null,
    (j.stacktrace || []).length ? [h('h2', {}, 'Stack trace'), h('pre', {}, j.stacktrace.join('\n\n'))] : null,
    h('h2', {}, `Logs (${j.logs.length})`), j.logs.length ? h('pre', { id: 'job-logs' }, j.logs.join('\n')) : h('p', { class: 'muted' }, 'none'),
    (j.children || []).length ? [h('h2', {}, 'Children'), table(['key', 'status', 'value'], j.children.map(c => h('tr', {},
      h('td', { class: 'mono' }, c.key), h('td', {}, c.status), h('td', { class: 'mono truncate' }, c.value || ''))))] : null,
  ];
};

pages.locks = async () => {
  const v = await api('locks');
  return [
    h('h1', {}, 'Locks'),
    h('p', { class: 'muted' }, `Held locks under ${v.prefixes.join(', ')} (SCAN, at most 500)` + (v.truncated ? ' — truncated' : '')),
    v.locks.length ? table(['name', 'holder', 'owner', 'TTL num', 'fence num', 'waiters num'], v.locks.map(l => h('tr', { class: 'lock', 'data-name': l.name },
      h('td', { class: 'mono' }, l.name), h('td', {}, l.holder), h('td', { class: 'mono' }, l.owner),
      h('td', { class: 'num' }, (l.ttlMs / 1000).toFixed(1) + ' s'), h('td', { class: 'num' }, l.fence || ''), h('td', { class: 'num' }, l.waiters))))
      : h('p', { class: 'muted', id: 'no-locks' }, 'no lock is held'),
    (v.process || []).length ? [h('h2', {}, 'This process'), table(['acquired num', 'contended num', 'timeouts num', 'lost num', 'released num'],
      v.process.map(p => h('tr', {}, [p.Acquired, p.Contended, p.Timeouts, p.Lost, p.Released].map(x => h('td', { class: 'num' }, fmt.num(x))))))] : null,
  ];
};

pages.sessions = async (rt) => {
  const v = await api('sessions');
  const user = rt.q.get('user') || '';
  const store = rt.q.get('store') || (v.stores[0] && v.stores[0].name) || '';
  let list = null;
  if (user && store) list = await api(`sessions/user?store=${encodeURIComponent(store)}&user=${encodeURIComponent(user)}`);
  const userInput = h('input', { id: 'session-user', placeholder: 'user id', value: user });
  const storeSel = h('select', { id: 'session-store' }, v.stores.map(s => h('option', { value: s.name, selected: s.name === store }, s.name)));
  return [
    h('h1', {}, 'Sessions'),
    table(['store', 'live sessions (estimate) num', 'created num', 'destroyed num', 'loads num', 'store errors num', ''], v.stores.map(s => h('tr', { class: 'store', 'data-store': s.name },
      h('td', {}, s.name), h('td', { class: 'num active' }, fmt.num(s.active)), h('td', { class: 'num' }, fmt.num(s.stats.Created)),
      h('td', { class: 'num' }, fmt.num(s.stats.Destroyed)), h('td', { class: 'num' }, fmt.num(s.stats.Loads)),
      h('td', { class: 'num' }, fmt.num(s.stats.StoreErrors)), h('td', { class: 'err' }, s.err || '')))),
    h('h2', {}, 'Sessions of a user'),
    h('form', { class: 'toolbar', id: 'session-form', onsubmit: (e) => { e.preventDefault(); location.hash = `#/sessions?store=${encodeURIComponent(storeSel.value)}&user=${encodeURIComponent(userInput.value)}`; } },
      storeSel, userInput, h('button', { id: 'session-find' }, 'Show')),
    list === null ? null : [
      h('p', { id: 'session-count' }, `${list.length} session(s) of ${user}`),
      list.length ? table(['id', 'created', 'idle expiry', 'expiry'], list.map(s => h('tr', { class: 'session' },
        h('td', { class: 'mono truncate' }, s.id), h('td', {}, fmt.time(Date.parse(s.created))),
        h('td', {}, fmt.time(Date.parse(s.idleExpires))), h('td', {}, fmt.time(Date.parse(s.expires)))))) : null,
      h('button', { class: 'danger', id: 'revoke', disabled: S.readOnly || !list.length,
        onclick: () => act('revoke-user', { name: store, user }, `Log ${user} out everywhere (${list.length} sessions)?`) }, 'Revoke all sessions of ' + user),
    ],
  ];
};

pages.caches = async () => {
  const v = await api('caches');
  const ms = d => (d / 1e6).toFixed(1) + ' ms';
  return [
    h('h1', {}, 'Caches'),
    h('div', { class: 'cards' }, card('Redis keyspace hit rate (all masters)', fmt.pct(v.redisHitRate))),
    v.caches.length ? table(['namespace', 'hit rate num', 'near hits num', 'redis hits num', 'misses num', 'loads num', 'near entries num', 'evictions num', 'invalidations num', 'tracking', 'invalidation lag (last/p99/max)'],
      v.caches.map(c => h('tr', { class: 'cache' }, h('td', {}, c.Namespace), h('td', { class: 'num' }, fmt.pct(c.hitRate)),
        [c.NearHits, c.RedisHits, c.Misses, c.Loads, c.NearEntries, c.Evictions, c.InvalidationsReceived].map(x => h('td', { class: 'num' }, fmt.num(x))),
        h('td', {}, c.TrackingUp ? 'up' : 'down'), h('td', {}, c.HasLag ? `${ms(c.LagLast)} / ${ms(c.LagP99)} / ${ms(c.LagMax)}` : ''))))
      : h('p', { class: 'muted' }, 'No cache registered: mount the dashboard in a service with Options.Services.Caches for per-namespace figures.'),
  ];
};

pages.memory = async () => {
  const v = await api('memory');
  const p = v.progress || {};
  const r = v.report;
  return [
    h('h1', {}, 'Memory'),
    h('div', { class: 'toolbar' },
      h('button', { id: 'analyze', disabled: v.running, onclick: () => act('analyze', {}).then(() => setTimeout(render, 0)) }, v.running ? 'Analysing…' : 'Analyse now'),
      h('span', { class: 'muted' }, 'SCAN of every shard at ≤100,000 keys/s; one run per minute.'),
      v.running ? h('span', { id: 'analyze-progress' }, `${fmt.num(p.Keys)} / ${fmt.num(p.Total)} keys, ${p.ShardsDone}/${p.Shards} shards`) : null,
      h('button', { onclick: render }, 'Refresh')),
    v.err ? h('p', { class: 'err' }, v.err) : null,
    r ? [
      h('div', { class: 'cards' }, card('keys', fmt.num(r.keys)), card('sampled', fmt.num(r.sampled)), card('estimated bytes', fmt.bytes(r.bytes)),
        card('took', (r.duration_ns / 1e9).toFixed(1) + ' s')),
      table(['pattern', 'keys num', 'bytes num', 'share num'], r.patterns.slice(0, 50).map(pt => h('tr', { class: 'pattern' },
        h('td', { class: 'mono' }, pt.pattern), h('td', { class: 'num' }, fmt.num(pt.keys)), h('td', { class: 'num' }, fmt.bytes(pt.bytes)),
        h('td', { class: 'num' }, r.bytes ? ((pt.bytes / r.bytes) * 100).toFixed(1) + '%' : '')))),
    ] : (!v.running ? h('p', { class: 'muted' }, 'No analysis yet.') : null),
  ];
};

// ---- frame ----

let rendering = false;
let again = false; // a render asked for while one runs (a navigation)
async function render() {
  if (rendering) { again = true; return; }
  rendering = true;
  const rt = route();
  for (const a of document.querySelectorAll('#nav a')) {
    const p = rt.page === 'queue' || rt.page === 'job' ? 'queues' : rt.page;
    a.classList.toggle('active', a.dataset.page === p);
  }
  const main = document.getElementById('main');
  const page = pages[rt.page];
  try {
    if (!page) throw new Error('no page ' + rt.page);
    const kids = await page(rt);
    // keep the search results across a refresh of the same page
    const results = main.querySelector('#results');
    const frag = h('div', { 'data-page': rt.page }, kids);
    const newResults = frag.querySelector('#results');
    if (results && newResults && main.firstChild?.dataset.page === rt.page) newResults.replaceWith(results);
    main.replaceChildren(frag);
  } catch (e) {
    main.replaceChildren(h('div', { 'data-page': rt.page }, h('p', { class: 'err', id: 'page-error' }, e.message)));
  } finally {
    rendering = false;
    if (again) { again = false; render(); }
  }
}

function schedule() {
  clearInterval(S.timer);
  S.timer = setInterval(() => {
    const rt = route();
    const live = document.getElementById('live').checked;
    const active = document.activeElement;
    const typing = active && ['INPUT', 'TEXTAREA', 'SELECT'].includes(active.tagName);
    if (live && !typing) render();
  }, REFRESH_MS);
}

async function boot() {
  try {
    const s = await api('session');
    S.csrf = s.csrf;
    S.readOnly = s.readOnly;
    document.getElementById('who').textContent = s.who + ' · ' + s.mode;
    document.getElementById('ro').classList.toggle('hidden', !s.readOnly);
  } catch (e) {
    flash('session: ' + e.message, true);
  }
  window.addEventListener('hashchange', () => { document.getElementById('flash').className = 'flash hidden'; document.getElementById('live').checked = true; render(); });
  await render();
  schedule();
}

boot();

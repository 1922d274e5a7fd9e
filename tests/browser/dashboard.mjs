// Drives the dashboard in Debian's headless chromium over the DevTools protocol, with no npm
// packages: node's own WebSocket (node 20: `--experimental-websocket`) and fetch.
//
//   node --experimental-websocket tests/browser/dashboard.mjs URL [STEPS.json]
//
// Opens URL, waits until the KPI tiles hold data, prints {"event":"ready", ...state}, then runs
// commands, one JSON object per stdin line (or the array in STEPS.json), printing one JSON line
// per command on stdout. Stdin closing (or "quit") closes chromium and exits.
//
//   {"cmd":"state"}                                   the page as it is now (see STATE below)
//   {"cmd":"wait", "kpis":{"orders":2100,...}, "health_rows":{"health-sales-rows":2100},
//    "lang":"en", "dead_letters":4, "ch_down":true,
//    "timeout_ms":15000}                              until every given figure matches, or timeout
//   {"cmd":"click", "testid":"lang-toggle"}           a real mouse click on [data-testid=...]
//   {"cmd":"goto", "url":"http://..."}                navigate, then wait for data as at start
//   {"cmd":"screenshot", "path":"/tmp/page.png"}      the full page as PNG
//   {"cmd":"quit"}
//
// Every reply has "ok" (false with "error" when the command failed) and the page's state:
// kpis (each tile's data-value), status, lang, heading (h1), kpi_labels, errors (console
// errors, uncaught exceptions, failed loads) and warnings, and "marker", which stays the same
// as long as the page was not reloaded. Exit code 0, or 1 when chromium could not be driven.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [url, stepsFile] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const KPIS = ['revenue', 'orders', 'items', 'avg_ticket', 'unique_customers'];
const READY_TIMEOUT_MS = 20000;
const LIFETIME_MS = 180000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

if (!url) {
  process.stderr.write('usage: node --experimental-websocket dashboard.mjs URL [STEPS.json]\n');
  process.exit(2);
}
if (typeof WebSocket === 'undefined') {
  out({ event: 'error', error: 'no global WebSocket: run node 20 with --experimental-websocket' });
  process.exit(1);
}

// ------------------------------------------------------------------ chromium
const profile = mkdtempSync(join(tmpdir(), 'dashboard-chromium-'));
let chromiumLog = '';
const chromium = spawn(CHROMIUM, [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check',
  `--user-data-dir=${profile}`, '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0',
  '--window-size=1280,900', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe'] });
chromium.stderr.on('data', (d) => { chromiumLog = (chromiumLog + d).slice(-2000); });
let chromiumExited = false;
chromium.on('exit', () => { chromiumExited = true; });
chromium.on('error', (e) => { chromiumExited = true; chromiumLog += String(e); });

let ws = null;
let cleaning = null;
async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    try { if (ws) ws.close(); } catch (_) { /* already closed */ }
    if (!chromiumExited) {
      chromium.kill('SIGTERM');
      for (let i = 0; i < 30 && !chromiumExited; i++) await sleep(100);
      if (!chromiumExited) chromium.kill('SIGKILL');
    }
    await sleep(100);
    rmSync(profile, { recursive: true, force: true });
  })();
  return cleaning;
}
async function fail(error) {
  out({ event: 'error', ok: false, error: String(error && error.stack ? error.message : error), chromium_log: chromiumLog });
  await cleanup();
  process.exit(1);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => cleanup().then(() => process.exit(1)));
setTimeout(() => fail(`still running after ${LIFETIME_MS} ms`), LIFETIME_MS).unref();

// The port chromium chose is in <profile>/DevToolsActivePort once it listens.
async function devtoolsPort() {
  for (let i = 0; i < 150; i++) {
    if (chromiumExited) throw new Error(`chromium (${CHROMIUM}) exited: ${chromiumLog}`);
    try {
      const port = readFileSync(join(profile, 'DevToolsActivePort'), 'utf8').split('\n')[0].trim();
      if (port) return port;
    } catch (_) { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`chromium did not open its DevTools port within 15 s: ${chromiumLog}`);
}

// ------------------------------------------------------------------ DevTools protocol
let nextId = 0;
const pending = new Map();
const listeners = new Map();
const errors = [];
const warnings = [];
function onMessage(ev) {
  const m = JSON.parse(ev.data);
  if (m.id && pending.has(m.id)) {
    const { resolve, reject, method } = pending.get(m.id);
    pending.delete(m.id);
    if (m.error) reject(new Error(`${method}: ${m.error.message}`));
    else resolve(m.result);
    return;
  }
  const p = m.params || {};
  if (m.method === 'Runtime.consoleAPICalled') {
    const text = (p.args || []).map((a) => (a.value !== undefined ? String(a.value) : a.description)).join(' ');
    if (p.type === 'error' || p.type === 'assert') errors.push(`console.${p.type}: ${text}`);
    else if (p.type === 'warning') warnings.push(`console.warn: ${text}`);
  } else if (m.method === 'Runtime.exceptionThrown') {
    const d = p.exceptionDetails || {};
    errors.push(`exception: ${(d.exception && d.exception.description) || d.text} at ${d.url || ''}:${d.lineNumber}`);
  } else if (m.method === 'Log.entryAdded') {
    const e = p.entry;
    const text = `${e.source}: ${e.text}${e.url ? ' (' + e.url + ')' : ''}`;
    if (e.level === 'error') errors.push(text); else if (e.level === 'warning') warnings.push(text);
  }
  for (const f of listeners.get(m.method) || []) f(p);
}
function send(method, params = {}) {
  return new Promise((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, { resolve, reject, method });
    ws.send(JSON.stringify({ id, method, params }));
  });
}
function nextEvent(method, timeoutMs) {
  return new Promise((resolve, reject) => {
    const list = listeners.get(method) || [];
    listeners.set(method, list);
    const f = (p) => { clearTimeout(timer); list.splice(list.indexOf(f), 1); resolve(p); };
    const timer = setTimeout(() => { list.splice(list.indexOf(f), 1); reject(new Error(`no ${method} within ${timeoutMs} ms`)); }, timeoutMs);
    list.push(f);
  });
}
async function evaluate(expression) {
  const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error(`evaluating in the page: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
  return r.result.value;
}

// ------------------------------------------------------------------ the page
const STATE = `(() => {
  const q = (s) => document.querySelector(s);
  const kpis = {}, kpi_labels = {};
  for (const k of ${JSON.stringify(KPIS)}) {
    const v = q('[data-testid="kpi-' + k + '"]');
    kpis[k] = v && v.hasAttribute('data-value') ? v.dataset.value : null;
    const l = q('.kpi[data-kpi="' + k + '"] .kpi-label');
    kpi_labels[k] = l ? l.textContent : null;
  }
  const health_rows = {};
  document.querySelectorAll('[data-testid^="health-"][data-testid$="-rows"]').forEach((e) => { health_rows[e.dataset.testid] = e.dataset.value; });
  const st = q('[data-testid="status"]');
  const h1 = q('h1');
  return {
    url: location.href, marker: window.__dashboardTestMarker || null,
    lang: document.documentElement.lang, title: document.title, heading: h1 ? h1.textContent : null,
    kpis, kpi_labels, status: st ? st.textContent : null, status_value: st ? st.dataset.value || null : null,
    conn: (q('#conn') || {}).dataset?.state || null,
    recent_rows: document.querySelectorAll('[data-testid="recent-sales"] tr:not(:has(td.empty))').length,
    recent_first: (q('[data-testid="recent-sales"] tr td') || {}).textContent || null,
    health_rows,
    dead_letter_panel: !!q('[data-testid="dead-letter-panel"]') && !q('[data-testid="dead-letter-panel"]').hidden,
    dead_letters: Array.from(document.querySelectorAll('[data-testid="dead-letter-rows"] tr:not(:has(td.empty))'))
      .map((tr) => Array.from(tr.cells).map((td) => td.textContent)),
    dead_letter_elements: document.querySelectorAll('[data-testid="dead-letter-rows"] td *').length,
    pwned: window.__pwned || null,
    banner_ch: (() => { const b = q('#banner-ch'); return b && !b.hidden ? b.textContent : null; })(),
    banner_guard: (() => { const b = q('#banner-guard'); return b && !b.hidden ? b.textContent : null; })(),
    guards: Object.fromEntries(Array.from(document.querySelectorAll('[data-testid^="guard-"]'))
      .map((p) => [p.dataset.testid.slice('guard-'.length), { state: p.dataset.state || null, text: p.textContent }])),
    pill_ch: (q('[data-testid="health-clickhouse"]') || {}).textContent || null,
    pill_ch_state: (q('[data-testid="health-clickhouse"]') || {}).dataset?.state || null,
    degraded: document.body.classList.contains('degraded'),
  };
})()`;

async function state() {
  return { ...(await evaluate(STATE)), errors: errors.slice(), warnings: warnings.slice() };
}

// Polls until `test(state)` holds; returns the last state and whether it held.
async function until(test, timeoutMs) {
  const start = Date.now();
  for (;;) {
    const s = await state();
    if (test(s)) return { ok: true, waited_ms: Date.now() - start, ...s };
    if (Date.now() - start > timeoutMs) return { ok: false, waited_ms: Date.now() - start, ...s };
    await sleep(100);
  }
}

async function load(target) {
  const loaded = nextEvent('Page.loadEventFired', READY_TIMEOUT_MS);
  const nav = await send('Page.navigate', { url: target });
  if (nav.errorText) throw new Error(`loading ${target}: ${nav.errorText}`);
  await loaded;
  const s = await until((st) => st.kpis.orders != null && st.kpis.orders !== '', READY_TIMEOUT_MS);
  if (!s.ok) return { ...s, error: `the KPI tiles got no data within ${READY_TIMEOUT_MS} ms` };
  // A value that survives only as long as this document: a reload would lose it.
  const marker = `m${Date.now()}${Math.random().toString(36).slice(2, 8)}`;
  await evaluate(`window.__dashboardTestMarker = ${JSON.stringify(marker)}`);
  return { ...s, marker };
}

const COMMANDS = {
  state: async () => ({ ok: true, ...(await state()) }),
  wait: async (c) => {
    const kpis = c.kpis || {}, health = c.health_rows || {};
    const same = (shown, v) => shown != null && shown !== '' && Number(shown) === Number(v);
    const r = await until((s) => Object.entries(kpis).every(([k, v]) => same(s.kpis[k], v))
      && Object.entries(health).every(([k, v]) => same(s.health_rows[k], v))
      && (c.lang == null || s.lang === c.lang)
      && (c.dead_letters == null || s.dead_letters.length === c.dead_letters)
      && (c.ch_down == null || ((s.banner_ch != null) === c.ch_down
        && s.pill_ch_state === (c.ch_down ? 'down' : 'ok')))
      // A guard named in the banner and its pill failing, or (null) no guard banner.
      && (c.guard_failing === undefined || (c.guard_failing === null
        ? s.banner_guard == null
        : s.banner_guard != null && s.banner_guard.includes(c.guard_failing)
          && s.guards[c.guard_failing]?.state === 'down')), c.timeout_ms ?? 15000);
    const want = JSON.stringify({ kpis, health_rows: health, lang: c.lang, dead_letters: c.dead_letters, ch_down: c.ch_down, guard_failing: c.guard_failing });
    return r.ok ? r : { ...r, error: `the page did not show ${want} within ${c.timeout_ms ?? 15000} ms` };
  },
  click: async (c) => {
    const sel = `[data-testid="${c.testid}"]`;
    const box = await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(sel)}); if (!e) return null;
      e.scrollIntoView({ block: 'center' }); const r = e.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`);
    if (!box) return { ok: false, error: `no element ${sel}`, ...(await state()) };
    for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
      await send('Input.dispatchMouseEvent', { type, x: box.x, y: box.y, button: 'left', clickCount: type === 'mouseMoved' ? 0 : 1 });
    }
    await sleep(100);
    return { ok: true, ...(await state()) };
  },
  goto: async (c) => load(c.url),
  screenshot: async (c) => {
    const h = await evaluate('document.documentElement.scrollHeight');
    const r = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width: 1280, height: Math.max(900, h), scale: 1 } });
    writeFileSync(c.path, Buffer.from(r.data, 'base64'));
    return { ok: true, path: c.path, ...(await state()) };
  },
};

async function run(line) {
  let c;
  try { c = typeof line === 'string' ? JSON.parse(line) : line; } catch (e) { return { ok: false, error: `not JSON: ${line}` }; }
  if (c.cmd === 'quit') return null;
  const f = COMMANDS[c.cmd];
  if (!f) return { ok: false, error: `unknown command ${JSON.stringify(c.cmd)}` };
  try { return { cmd: c.cmd, ...(await f(c)) }; } catch (e) { return { cmd: c.cmd, ok: false, error: String(e.message || e) }; }
}

// ------------------------------------------------------------------ main
try {
  const port = await devtoolsPort();
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find((t) => t.type === 'page');
  if (!page) throw new Error('chromium has no page target');
  ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve);
    ws.addEventListener('error', () => reject(new Error('cannot connect to chromium\'s DevTools socket')));
  });
  ws.addEventListener('message', onMessage);
  ws.addEventListener('close', () => { if (!cleaning) fail('chromium closed the DevTools socket'); });
  await send('Runtime.enable');
  await send('Log.enable');
  await send('Page.enable');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  const ready = await load(url);
  out({ event: 'ready', ...ready });
  if (!ready.ok) { await cleanup(); process.exit(1); }
} catch (e) {
  await fail(e);
}

const steps = stepsFile ? JSON.parse(readFileSync(stepsFile, 'utf8')) : createInterface({ input: process.stdin });
for await (const line of steps) {
  if (typeof line === 'string' && !line.trim()) continue;
  const reply = await run(line);
  if (reply === null) break;
  out(reply);
}
await cleanup();
process.exit(0);

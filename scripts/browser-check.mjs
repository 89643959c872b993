// Opens an HTML report in headless Chromium, takes screenshots, and checks what a reader needs:
// the page loads from disk alone (no request leaves file://, nothing is blocked), the verdict and
// the metrics table are there, and every chart the page announces is drawn.
//
// Usage: node scripts/browser-check.mjs PAGE.html OUT_DIR [CHART ...]
// CHARTs are `data-chart` names that must be drawn besides the ones the page announces. Writes
// OUT_DIR/top.png (first screen), OUT_DIR/full.png (whole page) and OUT_DIR/result.json, prints
// the result, and exits 1 when a check fails, 2 when the browser could not be driven.
//
// Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), so no port
// is opened and no npm package is needed: Node's own child_process speaks it. Every request the
// page makes is seen (Network.requestWillBeSent, loadingFailed) along with console and security
// messages (a Content-Security-Policy refusal shows there). The proxy and resolver flags make
// sure that even a request the check failed to see could not reach anything.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [page, outDir, ...extraCharts] = process.argv.slice(2);
if (!page || !outDir) {
  console.error('usage: node scripts/browser-check.mjs PAGE.html OUT_DIR [CHART ...]');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'folio-chromium-'));
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const WIDTH = 1280, HEIGHT = 900, TIMEOUT_MS = 30000;

const browser = spawn(chromium, [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-extensions', '--hide-scrollbars', '--mute-audio',
  '--proxy-server=127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND',
  `--user-data-dir=${profile}`, `--window-size=${WIDTH},${HEIGHT}`,
  '--remote-debugging-pipe', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true });

let stderr = '';
browser.stdio[2].on('data', (d) => { stderr += d; });
const toBrowser = browser.stdio[3];
const fromBrowser = browser.stdio[4];
// A browser that died at once closes its end of the pipe: the first command then fails.
toBrowser.on('error', (error) => {
  finish(2, { ok: false, failures: [`chromium's pipe closed: ${error.message}`], stderr });
});

let nextId = 1;
const pending = new Map();
const listeners = [];
let buffer = Buffer.alloc(0);
fromBrowser.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  let end;
  while ((end = buffer.indexOf(0)) >= 0) {
    const message = JSON.parse(buffer.subarray(0, end).toString('utf8'));
    buffer = buffer.subarray(end + 1);
    if (message.id && pending.has(message.id)) {
      const { resolve: ok, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(JSON.stringify(message.error))); else ok(message.result);
    } else if (message.method) {
      listeners.forEach((l) => l(message));
    }
  }
});

function send(method, params = {}, sessionId) {
  const id = nextId++;
  toBrowser.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
  return new Promise((ok, reject) => pending.set(id, { resolve: ok, reject }));
}

function waitFor(method, sessionId) {
  return new Promise((ok) => listeners.push((m) => {
    if (m.method === method && m.sessionId === sessionId) ok(m.params);
  }));
}

let finishing = false;
function finish(code, result) {
  if (finishing) return;
  finishing = true;
  clearTimeout(timer);
  writeFileSync(join(outDir, 'result.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result, null, 2));
  // The profile is removed once the browser has let go of it: removed while chromium still
  // writes there, it came back, and every run left one in the temporary folder.
  // Chromium's helpers (renderer, GPU, crash handler) outlive its main process for a moment, so
  // the whole process group is killed and the removal waits a little after the exit.
  const cleanUp = () => setTimeout(() => {
    try { rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }); } catch { /* temporary */ }
    process.exit(code);
  }, 200);
  if (browser.pid === undefined || browser.exitCode !== null || browser.signalCode !== null) {
    cleanUp();
  } else {
    browser.once('exit', cleanUp);
    try { process.kill(-browser.pid, 'SIGKILL'); } catch { browser.kill('SIGKILL'); }
  }
}

const timer = setTimeout(() => finish(2, { ok: false, failures: [`no result within ${TIMEOUT_MS} ms`], stderr }), TIMEOUT_MS);
browser.on('exit', (code) => {
  finish(2, { ok: false, failures: [`chromium exited (${code}) before the check finished`], stderr });
});
// A browser that cannot start (a wrong $CHROMIUM) is the browser not driven, not a failed check.
browser.on('error', (error) => {
  finish(2, { ok: false, failures: [`cannot start ${chromium}: ${error.message}`], stderr });
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => finish(2, { ok: false, failures: [`stopped by ${signal}`], stderr }));
}

// What the page holds, measured in the page itself.
const INSPECT = `(() => {
  const bodies = [...document.querySelectorAll('.run-body')];
  const announced = bodies.flatMap((b) => (b.dataset.charts || '').split(' ').filter(Boolean)
    .map((name) => ({ name, body: b })));
  const drawn = (body, name) => {
    const figure = body.querySelector('figure.chart[data-chart="' + name + '"]');
    if (!figure) return 'missing';
    if (figure.classList.contains('missing')) return 'not drawn: ' + figure.textContent.trim();
    // The visible drawing: a figure may hold several (linear and log scale), one shown.
    const area = (e) => { const r = e.getBoundingClientRect(); return r.width * r.height; };
    const svg = [...figure.querySelectorAll('svg')].sort((a, b) => area(b) - area(a))[0];
    const box = (svg || figure.querySelector('table'))?.getBoundingClientRect();
    if (!box || box.width < 100 || box.height < 50) return 'empty';
    if (svg && svg.querySelectorAll('polyline, polygon, rect, path').length < 10) return 'too few shapes';
    return 'drawn';
  };
  return {
    title: document.title,
    verdicts: [...document.querySelectorAll('section.verdict .headline')].map((e) => e.textContent.trim()),
    metricsRows: [...document.querySelectorAll('table.metrics tbody tr')].length,
    rightAligned: [...document.querySelectorAll('table.metrics td.num')].every((td) => getComputedStyle(td).textAlign === 'right'),
    charts: announced.map(({ name, body }) => ({ name, state: drawn(body, name) })),
    extra: ${JSON.stringify(extraCharts)}.map((name) => ({ name, state: bodies.length ? drawn(bodies[0], name) : 'missing' })),
    height: document.documentElement.scrollHeight,
  };
})()`;

try {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const requests = [], problems = [];
  listeners.push((m) => {
    if (m.sessionId !== sessionId) return;
    const p = m.params;
    if (m.method === 'Network.requestWillBeSent' && !/^(file|data|about):/.test(p.request.url)) requests.push(p.request.url);
    if (m.method === 'Network.loadingFailed') problems.push(`failed load ${p.errorText} ${p.blockedReason || ''}`.trim());
    if (m.method === 'Log.entryAdded' && (p.entry.level === 'error' || p.entry.source === 'security')) problems.push(`${p.entry.source}: ${p.entry.text} ${p.entry.url || ''}`.trim());
    if (m.method === 'Runtime.consoleAPICalled' && p.type === 'error') problems.push(`console: ${p.args.map((a) => a.value).join(' ')}`);
    if (m.method === 'Runtime.exceptionThrown') problems.push(`exception: ${p.exceptionDetails.text}`);
  });
  for (const domain of ['Network', 'Page', 'Runtime', 'Log']) await send(`${domain}.enable`, {}, sessionId);
  await send('Emulation.setDeviceMetricsOverride', { width: WIDTH, height: HEIGHT, deviceScaleFactor: 1, mobile: false }, sessionId);
  const loaded = waitFor('Page.loadEventFired', sessionId);
  await send('Page.navigate', { url: pathToFileURL(resolve(page)).href }, sessionId);
  await loaded;
  const { result } = await send('Runtime.evaluate', { expression: INSPECT, returnByValue: true }, sessionId);
  const dom = result.value;
  const top = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
  writeFileSync(join(outDir, 'top.png'), Buffer.from(top.data, 'base64'));
  const full = await send('Page.captureScreenshot', {
    format: 'png', captureBeyondViewport: true,
    clip: { x: 0, y: 0, width: WIDTH, height: Math.min(dom.height, 16000), scale: 1 },
  }, sessionId);
  writeFileSync(join(outDir, 'full.png'), Buffer.from(full.data, 'base64'));

  const failures = [];
  requests.forEach((url) => failures.push(`network request: ${url}`));
  problems.forEach((p) => failures.push(p));
  if (dom.verdicts.length === 0 || dom.verdicts.some((v) => v.length < 10)) failures.push('no verdict');
  if (dom.metricsRows === 0) failures.push('no metrics table');
  if (!dom.rightAligned) failures.push('numbers in the metrics table are not right-aligned');
  if (dom.charts.length === 0) failures.push('the page announces no chart');
  [...dom.charts, ...dom.extra].filter((c) => c.state !== 'drawn').forEach((c) => failures.push(`chart ${c.name}: ${c.state}`));
  browser.removeAllListeners('exit');
  clearTimeout(timer);
  finish(failures.length ? 1 : 0, { ok: failures.length === 0, failures, requests, dom, screenshots: ['top.png', 'full.png'] });
} catch (e) {
  browser.removeAllListeners('exit');
  clearTimeout(timer);
  finish(2, { ok: false, failures: [`driving chromium: ${e.message}`], stderr });
}

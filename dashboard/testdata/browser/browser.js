// browser.js drives the dashboard in headless Chromium (playwright-core,
// Debian's /usr/bin/chromium) for dashboard/browser_test.go. It waits on
// what the page shows, never on time, and saves one screenshot per page.
//
// Environment: BASE_URL (the dashboard, ending in "/"), SHOTS (screenshot
// directory), QUEUE (queue id), NODES (node count), CHROMIUM (binary).
// Protocol: progress lines "ok <step>" on stdout; before the last step it
// prints "kill" and waits for a stdin line "killed <addr>".
'use strict';
const { chromium } = require('playwright-core');
const path = require('path');
const readline = require('readline');

const base = process.env.BASE_URL;
const shots = process.env.SHOTS;
const queue = process.env.QUEUE;
const nodes = Number(process.env.NODES);
const step = s => process.stdout.write('ok ' + s + '\n');
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise(resolve => lines.once('line', resolve));

// ---- page objects ----

class ClusterPage {
  constructor(page) { this.page = page; }
  async open() { await this.page.goto(base + '#/cluster'); await this.page.locator('[data-page="cluster"] tr.node').first().waitFor(); }
  async waitNodesUp(n) {
    await this.page.waitForFunction(n => document.querySelectorAll('tr.node[data-up="true"]').length === n, n);
  }
  async waitNodeDown(addr) {
    await this.page.locator(`tr.node.down[data-addr="${addr}"]`).waitFor();
  }
}

class QueuesPage {
  constructor(page) { this.page = page; }
  async open() { await this.page.goto(base + '#/queues'); await this.page.locator('#main > [data-page="queues"]').waitFor(); }
  row(id) { return this.page.locator(`tr.queue[data-queue="${id}"]`); }
  // waitCount waits until the queue's count of state satisfies min.
  async waitCount(id, state, min) {
    await this.page.waitForFunction(([id, state, min]) => {
      const td = document.querySelector(`tr.queue[data-queue="${id}"] td.count-${state}`);
      return td && Number(td.textContent.replace(/[^0-9]/g, '')) >= min;
    }, [id, state, min]);
  }
  async openQueue(id) { await this.row(id).locator('a').first().click(); await this.page.locator('#queue-name').waitFor(); }
}

class QueuePage {
  constructor(page) { this.page = page; }
  async tab(state) {
    await this.page.locator(`#states a[data-state="${state}"]`).click();
    await this.page.locator(`#states a.active[data-state="${state}"]`).waitFor();
  }
  jobs() { return this.page.locator('#jobs tr.job'); }
  async openFirstJob() { await this.jobs().first().locator('a').first().click(); await this.page.locator('#job-state').waitFor(); }
  async search(text, field) {
    await this.page.fill('#search-text', text);
    await this.page.selectOption('#search-field', field);
    await this.page.click('#search-go');
    await this.page.locator('#search-status').waitFor();
  }
  async status(s) { await this.page.locator(`#queue-status:text-is("${s}")`).waitFor(); }
  async pause() { await this.page.click('#pause'); await this.status('paused'); }
  async resume() { await this.page.click('#resume'); await this.status('running'); }
}

class SessionsPage {
  constructor(page) { this.page = page; }
  async open(store, user) {
    await this.page.goto(base + `#/sessions?store=${store}&user=${user}`);
    await this.page.locator('#session-count').waitFor();
  }
  async waitCount(n, user) { await this.page.locator(`#session-count:text-is("${n} session(s) of ${user}")`).waitFor(); }
  async revokeAll() { await this.page.click('#revoke'); }
}

class JobPage {
  constructor(page) { this.page = page; }
  async state() { return (await this.page.locator('#job-state').textContent()).trim(); }
  async waitState(s) { await this.page.locator(`#job-state:text-is("${s}")`).waitFor({ timeout: 30000 }); }
  async retry() { await this.page.locator('button.retry').click(); }
}

async function shot(page, name) {
  const file = path.join(shots, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  process.stdout.write('screenshot ' + file + '\n');
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(20000);
  page.on('dialog', d => d.accept());
  page.on('pageerror', e => process.stderr.write('page error: ' + e.message + '\n'));

  const cluster = new ClusterPage(page);
  await cluster.open();
  await cluster.waitNodesUp(nodes);
  await shot(page, '1-cluster');
  step('cluster');

  const queues = new QueuesPage(page);
  await queues.open();
  await queues.row(queue).waitFor();
  await queues.waitCount(queue, 'completed', 1);
  await queues.waitCount(queue, 'failed', 1);
  await shot(page, '2-queues');
  step('queues');

  await queues.openQueue(queue);
  const q = new QueuePage(page);
  await page.locator('#throughput').waitFor(); // Node's metrics:* keys
  await q.tab('failed');
  await q.jobs().first().waitFor();
  await shot(page, '3-queue-failed');
  step('queue');

  await q.openFirstJob();
  const job = new JobPage(page);
  await job.waitState('failed');
  await page.locator('#job-reason').waitFor();
  await shot(page, '4-job-failed');
  await job.retry();
  await job.waitState('completed');
  await page.locator('#job-return').waitFor();
  await shot(page, '5-job-retried');
  step('retry');

  await page.goBack();
  await page.locator('#queue-name').waitFor();
  await q.search('special', 'data');
  await page.locator('#search-results tr.job').first().waitFor();
  await shot(page, '6-search');
  step('search');

  await q.pause();
  await shot(page, '7-paused');
  await q.resume();
  step('pause-resume');

  await page.goto(base + '#/locks');
  await page.locator('tr.lock[data-name="order-42"]').waitFor();
  await shot(page, '8-locks');
  step('locks');

  const sessions = new SessionsPage(page);
  await sessions.open('app', 'alice');
  await sessions.waitCount(3, 'alice');
  await shot(page, '9-sessions');
  await sessions.revokeAll();
  await sessions.waitCount(0, 'alice');
  await shot(page, '10-sessions-revoked');
  step('revoke');

  await page.goto(base + '#/caches');
  await page.locator('[data-page="caches"] h1').waitFor();
  await shot(page, '11-caches');
  step('caches');

  await page.goto(base + '#/memory');
  await page.locator('#analyze').waitFor();
  await page.click('#analyze');
  await page.locator('tr.pattern').first().waitFor({ timeout: 60000 });
  await shot(page, '12-memory');
  step('memory');

  process.stdout.write('kill\n');
  const killed = (await nextLine()).replace(/^killed /, '').trim();
  await cluster.open();
  await cluster.waitNodeDown(killed);
  await shot(page, '13-cluster-master-down');
  step('master-down');

  await browser.close();
  lines.close();
}

main().catch(e => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });

// Drives the workbench page in a real browser (Debian's chromium through playwright-core)
// against a running `kgrec serve`, and prints what it saw as JSON. tests/it/browser.rs runs it
// and checks the report against the API and the store; this script only looks and clicks.
//   node web/test/workbench.mjs BASE_URL SCREENSHOT_DIR CUSTOMER_ID UPDATE_TOKEN CUSTOMER_IRI QUERY
// CHROMIUM names the browser binary (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, shots, customer, token, userIri, sparqlQuery] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});

/** Opens `hash` in a fresh tab of `viewport`; records problems and transferred bytes. */
async function open(hash, viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const seen = { problems: [], bytes: 0, dialogs: 0 };
  page.on('console', (m) => m.type() === 'error' && seen.problems.push('console: ' + m.text()));
  page.on('pageerror', (e) => seen.problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => seen.problems.push('failed: ' + r.url()));
  page.on('response', (r) => r.status() >= 400 && seen.problems.push(`${r.status()}: ${r.url()}`));
  page.on('dialog', (d) => {
    seen.dialogs += 1;
    d.dismiss();
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.loadingFinished', (e) => (seen.bytes += e.encodedDataLength));
  const started = Date.now();
  await page.goto(base + '/' + hash);
  return { context, page, seen, started };
}

const customerHash = '#/customer/' + encodeURIComponent(customer);
const report = {};

// Saved queries: the customer's history through the form, with the IRI looked up by typing.
{
  const { context, page, seen, started } = await open('#/queries', { width: 1280, height: 800 });
  await page.waitForSelector('details#query-user-history');
  const interactiveMs = Date.now() - started;
  await page.click('details#query-user-history summary');
  await page.fill('#q-user-history-user', userIri);
  await page.click('form[data-query=user-history] button[type=submit]');
  await page.waitForSelector('details#query-user-history table tbody tr');
  const vars = await page.$$eval('details#query-user-history thead th', (ths) => ths.map((t) => t.textContent));
  const rows = await page.$$eval('details#query-user-history tbody tr', (trs) =>
    trs.map((tr) => [...tr.children].map((td) => (td.hasAttribute('data-value') ? td.dataset.value : null))),
  );
  // A count per group draws a chart.
  await page.click('details#query-interactions-per-kind summary');
  await page.click('form[data-query=interactions-per-kind] button[type=submit]');
  await page.waitForSelector('details#query-interactions-per-kind table tbody tr');
  const bars = await page.$$eval('details#query-interactions-per-kind .bar-row', (b) => b.length);
  await page.screenshot({ path: path.join(shots, 'queries.png') });
  report.queries = { vars, rows, bars, problems: seen.problems, bytes: seen.bytes, interactiveMs };
  await context.close();
}

// SPARQL: a query typed in the editor returns its rows; an update without the token is
// refused, and the page shows why.
{
  const { context, page, seen, started } = await open('#/sparql', { width: 1280, height: 800 });
  await page.waitForSelector('.cm-content');
  const interactiveMs = Date.now() - started;
  const typeQuery = async (text) => {
    await page.click('.cm-content');
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Backspace');
    await page.keyboard.type(text);
    await page.keyboard.press('Escape'); // close the completion list
  };
  await typeQuery(sparqlQuery);
  await page.click('#sparql-run');
  await page.waitForSelector('.query-result table tbody tr');
  const rows = await page.$$eval('.query-result tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.dataset.value || null)));
  await page.screenshot({ path: path.join(shots, 'sparql.png') });
  const beforeUpdate = [...seen.problems];
  await typeQuery('INSERT DATA { <urn:kgrec:a> <urn:kgrec:b> <urn:kgrec:c> }');
  await page.click('#sparql-run');
  await page.waitForSelector('.query-result .error-box');
  const refusal = await page.textContent('.query-result .error-box');
  report.sparql = {
    rows, refusal, problems: beforeUpdate, afterUpdate: seen.problems.slice(beforeUpdate.length),
    bytes: seen.bytes, interactiveMs,
  };
  await context.close();
}

// The customer page at 1280×800: recommendations, the drawn edges, the history.
{
  const { context, page, seen, started } = await open(customerHash, { width: 1280, height: 800 });
  await page.waitForSelector('.recommendations .card');
  // Interactive: the lists are in and every graph has drawn its canvas.
  await page.waitForFunction(() =>
    [...document.querySelectorAll('.graph')].every((g) => g.querySelector('canvas')),
  );
  const interactiveMs = Date.now() - started;
  await page.screenshot({ path: path.join(shots, 'customer.png') });
  const recommended = await page.$$eval('.recommendations .card', (cards) => cards.map((c) => c.dataset.item));
  const history = await page.$$eval('.history .card', (cards) => cards.map((c) => c.dataset.item));
  const edges = await page.$$eval('.edges li', (items) => items.map((li) => [li.dataset.s, li.dataset.p, li.dataset.o]));
  const titles = await page.$$eval('.card h3', (hs) => hs.map((h) => h.textContent));
  const images = await page.$$eval('img', (imgs) => imgs.length);
  // The test purchase: read-only until the token is set, then the history grows by one.
  const readOnly = (await page.locator('.readonly').count()) > 0;
  await page.fill('#token-input', token);
  await page.press('#token-input', 'Enter');
  await page.waitForSelector('#event-item');
  const bought = await page.$eval('#event-item', (s) => s.value);
  await page.click('.event button[type=submit]');
  await page.waitForSelector('.status.ok');
  const historyAfter = await page.$$eval('.history .card', (cards) => cards.map((c) => c.dataset.item));
  report.customer = {
    recommended, history, historyAfter, bought, edges, titles, images, readOnly,
    problems: seen.problems, dialogs: seen.dialogs, bytes: seen.bytes, interactiveMs,
  };
  await context.close();
}

// A product page (the first recommendation): its neighbourhood drawn, findings listed.
{
  const product = report.customer.recommended[0];
  const { context, page, seen, started } = await open('#/product/' + encodeURIComponent(product), { width: 1280, height: 800 });
  await page.waitForSelector('figure.neighbourhood .graph canvas');
  await page.waitForSelector('.findings > *');
  const interactiveMs = Date.now() - started;
  await page.screenshot({ path: path.join(shots, 'product.png') });
  const edges = await page.$$eval('figure.neighbourhood .edges li', (items) => items.map((li) => [li.dataset.s, li.dataset.p, li.dataset.o]));
  const similar = await page.$$eval('.results .card', (cards) => cards.map((c) => c.dataset.item));
  const facts = await page.$eval('.facts-box .card', (c) => c.dataset.item);
  // The saved queries that take a product, run for it by following the link.
  await page.waitForSelector('.for-product li a');
  const forProduct = await page.$$eval('.for-product li a', (as) => as.map((a) => a.getAttribute('href')));
  await page.click('.for-product li a');
  await page.waitForSelector('details[open] .query-result .count');
  const ran = await page.$eval('details[open]', (d) => ({ query: d.id.replace('query-', ''), rows: d.querySelectorAll('tbody tr').length }));
  report.product = { product, facts, edges, similar, forProduct, ran, problems: seen.problems, bytes: seen.bytes, interactiveMs };
  await context.close();
}

// The model page: the registry's versions, the served one, the link weights drawn.
{
  const { context, page, seen, started } = await open('#/model', { width: 1280, height: 800 });
  await page.waitForSelector('table.versions tbody tr');
  const interactiveMs = Date.now() - started;
  const versions = await page.$$eval('table.versions tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.version)));
  const served = await page.$$eval('table.versions tr.served', (trs) => trs.map((tr) => Number(tr.dataset.version)));
  const kinds = await page.$$eval('.weight-group', (gs) => gs.map((g) => g.dataset.kind));
  await page.screenshot({ path: path.join(shots, 'model.png') });
  report.model = { versions, served, kinds, problems: seen.problems, bytes: seen.bytes, interactiveMs };
  await context.close();
}

// The same page at a phone's width.
{
  const { context, page, seen } = await open(customerHash, { width: 390, height: 844 });
  await page.waitForSelector('.recommendations .card');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: path.join(shots, 'customer-phone.png') });
  report.phone = { overflow, problems: seen.problems };
  await context.close();
}

// Search: the page and its forms load; keyboard-only look-up of the customer.
{
  const { context, page, seen, started } = await open('#/', { width: 1280, height: 800 });
  await page.waitForSelector('#customer');
  const interactiveMs = Date.now() - started;
  // A product by its id, typed in the search box.
  const productId = report.customer.recommended[0].split('/').pop();
  await page.fill('#q', productId);
  await page.press('#q', 'Enter');
  await page.waitForSelector('.results .card');
  const found = await page.$$eval('.results .card', (cards) => cards.map((c) => c.dataset.item));
  await page.focus('#customer');
  await page.keyboard.type(customer);
  await page.keyboard.press('Enter');
  await page.waitForSelector('.recommendations .card');
  const landed = await page.evaluate(() => window.location.hash);
  await page.screenshot({ path: path.join(shots, 'search.png') });
  report.search = { productId, found, landed, problems: seen.problems, bytes: seen.bytes, interactiveMs };
  await context.close();
}

await browser.close();
console.log(JSON.stringify(report));

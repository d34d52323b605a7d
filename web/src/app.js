// The merchandiser's workbench: a page per hash route, built only from the JSON API.
//   #/            search products by meaning or id, look a customer up
//   #/customer/ID a customer's history, recommendations and why (drawn as graphs)
//   #/product/ID  a product's facts, KG neighbourhood, similar products and data findings
//   #/queries     the saved queries: a form each, results as a table, a chart, CSV/JSON
//   #/sparql      a SPARQL editor against /sparql (updates with the token)
//   #/model       the registered versions, the served one, its learned KG link weights

import { get, post, updateToken, userPath, ApiError } from './api.js';
import { h, append, replace, shortId, route } from './dom.js';
import { pathFigure, neighbourhoodFigure } from './graph.js';

const main = document.getElementById('main');

/** A message in the page's status line (announced to screen readers). */
function status(text, kind = 'info') {
  const line = document.getElementById('status');
  line.className = 'status ' + kind;
  line.textContent = text || '';
}

function failure(e) {
  return e instanceof ApiError ? `${e.message} (${e.status} ${e.code})` : String(e);
}

/** A product's categories: `Beauty › Makeup › Lips` when they are one path down the tree. */
function categoryPath(item) {
  return (item.categories || []).map((c) => c.label || shortId(c.iri)).join(item.category_path ? ' › ' : ', ');
}

/** `12.50 USD`, or nothing without a price. */
function price(item) {
  if (!item.price) return null;
  const n = Number(item.price);
  return h('span', { class: 'price' }, Number.isNaN(n) ? item.price : n.toFixed(2), item.currency ? ' ' + item.currency : '');
}

/** A product card: title, brand, categories, id; score when ranked. */
function card(item, extra = []) {
  return h(
    'article',
    { class: 'card', 'data-item': item.item },
    h('h3', {}, h('a', { href: route('product', item.item) }, item.title || shortId(item.item))),
    h(
      'p',
      { class: 'facts' },
      item.brand ? h('span', { class: 'brand' }, item.brand) : h('span', { class: 'missing' }, 'no brand'),
      categoryPath(item) ? [' · ', h('span', { class: 'categories' }, categoryPath(item))] : null,
      price(item) ? [' · ', price(item)] : null,
    ),
    h('p', { class: 'id' }, shortId(item.item), item.score !== undefined ? ` · score ${item.score.toFixed(3)}` : ''),
    extra,
  );
}

// ---- search -------------------------------------------------------------------------------

function searchPage(params) {
  const q = params.get('q') || '';
  const input = h('input', { id: 'q', name: 'q', type: 'search', value: q, required: true, autocomplete: 'off' });
  const customer = h('input', { id: 'customer', name: 'customer', autocomplete: 'off' });
  const results = h('section', { class: 'results', 'aria-live': 'polite' });
  replace(
    main,
    h('h2', {}, 'Search'),
    h(
      'form',
      {
        class: 'row',
        onsubmit: (ev) => {
          ev.preventDefault();
          window.location.hash = '#/?q=' + encodeURIComponent(input.value.trim());
        },
      },
      h('label', { for: 'q' }, 'Products by meaning or id'),
      input,
      h('button', { type: 'submit' }, 'Search'),
    ),
    h(
      'form',
      {
        class: 'row',
        onsubmit: (ev) => {
          ev.preventDefault();
          if (customer.value.trim()) window.location.hash = route('customer', customer.value.trim());
        },
      },
      h('label', { for: 'customer' }, 'Customer id'),
      customer,
      h('button', { type: 'submit' }, 'Look up'),
    ),
    results,
  );
  if (!q) {
    input.focus();
    return;
  }
  status('Searching…');
  // An id or IRI names a product directly; anything else is searched by meaning.
  const byId = /\s/.test(q) ? Promise.resolve(null) : get(`/v1/items/${encodeURIComponent(q)}`).catch(() => null);
  byId.then((item) => {
    if (item) {
      replace(results, card(item));
      status(`The product with id ${shortId(item.item)}`);
      return;
    }
    get('/v1/search', { q, k: 20 })
      .then((found) => {
        replace(results, found.items.map((x) => card(x)));
        status(`${found.items.length} products for “${found.query}” by meaning (model v${found.model.version})`);
      })
      .catch((e) => {
        replace(results);
        status(failure(e), 'error');
      });
  });
}

// ---- customer -----------------------------------------------------------------------------

function customerPage(params, id) {
  const k = params.get('k') || '10';
  const category = params.get('category') || '';
  const brand = params.get('brand') || '';
  const field = (name, label, value, attrs = {}) => [
    h('label', { for: 'f-' + name }, label),
    h('input', { id: 'f-' + name, name, value, autocomplete: 'off', ...attrs }),
  ];
  const filters = h(
    'form',
    {
      class: 'row filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const form = new FormData(ev.target);
        const query = new URLSearchParams();
        for (const [key, value] of form) if (String(value).trim()) query.set(key, String(value).trim());
        window.location.hash = route('customer', id) + '?' + query;
      },
    },
    field('k', 'How many', k, { type: 'number', min: 1, max: 100 }),
    field('category', 'Category', category),
    field('brand', 'Brand', brand),
    h('button', { type: 'submit' }, 'Apply'),
  );
  const history = h('ol', { class: 'history' });
  const recs = h('section', { class: 'recommendations', 'aria-live': 'polite' });
  const eventBox = h('section', { class: 'event' });
  replace(
    main,
    h('h2', {}, 'Customer ', h('code', {}, id)),
    filters,
    h('div', { class: 'columns' }, h('section', {}, h('h3', {}, 'History, oldest first'), history), h('section', {}, h('h3', {}, 'Recommended, and why'), eventBox, recs)),
  );
  const load = async () => {
    status('Loading…');
    try {
      const [past, ranking] = await Promise.all([
        get(userPath(id, 'history')),
        get(userPath(id, 'recommendations'), { k, category, brand, explain: true }),
      ]);
      replace(
        history,
        past.items.map((item) => h('li', {}, card(item))),
      );
      replace(
        recs,
        ranking.items.map((item, i) =>
          card(item, [
            item.explanation && item.explanation.sentence ? h('p', { class: 'why' }, item.explanation.sentence) : null,
            item.explanation && item.explanation.paths.length
              ? pathFigure(item.explanation.paths, ranking.user, item.item, `Why #${i + 1}: the knowledge-graph paths from the customer to ${item.title || shortId(item.item)}`)
              : h('p', { class: 'missing' }, 'No knowledge-graph path links this customer to it.'),
          ]),
        ),
      );
      eventForm(ranking);
      status(`${ranking.items.length} recommendations from model v${ranking.model.version}; ${past.items.length} past interactions`);
    } catch (e) {
      replace(recs);
      status(failure(e), 'error');
    }
  };
  const eventForm = (ranking) => {
    if (!updateToken.get()) {
      replace(eventBox, h('p', { class: 'readonly' }, 'Read-only: set the update token (top right) to post a test event.'));
      return;
    }
    const pick = h(
      'select',
      { id: 'event-item', name: 'item' },
      ranking.items.map((item) => h('option', { value: item.item }, item.title || shortId(item.item))),
    );
    replace(
      eventBox,
      h(
        'form',
        {
          class: 'row',
          onsubmit: async (ev) => {
            ev.preventDefault();
            try {
              await post('/v1/events', [{ user: ranking.user, item: pick.value, kind: 'purchase' }]);
              await load();
              status('Recorded a test purchase; the lists above are the service’s answer after it.', 'ok');
            } catch (e) {
              status(failure(e), 'error');
            }
          },
        },
        h('label', { for: 'event-item' }, 'Test purchase of'),
        pick,
        h('button', { type: 'submit' }, 'Post event'),
      ),
    );
  };
  load();
}

// ---- product ------------------------------------------------------------------------------

function productPage(params, id) {
  const facts = h('section', { class: 'facts-box', 'aria-live': 'polite' });
  const graph = h('section', { class: 'neighbourhood-box' });
  const similar = h('section', { class: 'results' });
  const findings = h('section', { class: 'findings' });
  const forProduct = h('ul', { class: 'for-product' });
  const hops = params.get('hops') === '1' ? '1' : '2';
  replace(
    main,
    h('h2', {}, 'Product'),
    facts,
    h('h3', {}, 'Neighbourhood in the knowledge graph'),
    h(
      'p',
      { class: 'row' },
      h('a', { href: route('product', id) + '?hops=1', 'aria-current': hops === '1' ? 'true' : null }, 'one hop'),
      ' · ',
      h('a', { href: route('product', id) + '?hops=2', 'aria-current': hops === '2' ? 'true' : null }, 'two hops'),
    ),
    graph,
    h('h3', {}, 'Data-quality findings'),
    findings,
    h('h3', {}, 'Similar, by the model'),
    similar,
    h('h3', {}, 'Saved queries for this product'),
    forProduct,
  );
  status('Loading…');
  Promise.all([
    get(`/v1/items/${encodeURIComponent(id)}`),
    get(`/v1/items/${encodeURIComponent(id)}/neighbourhood`, { hops, limit: 8 }),
    get(`/v1/items/${encodeURIComponent(id)}/similar`, { k: 8 }),
  ])
    .then(([item, around, like]) => {
      replace(facts, card(item));
      replace(
        graph,
        neighbourhoodFigure(around, `The knowledge graph around ${item.title || shortId(item.item)}, ${hops} hop(s); dashed: hubs, not expanded`),
        around.left_out ? h('p', { class: 'missing' }, `${around.left_out} more neighbours not drawn.`) : null,
      );
      replace(similar, like.items.map((x) => card(x)));
      status(`Model v${around.model.version}`);
      // Every saved query with a product parameter, opened with this product filled in.
      get('/v1/queries')
        .then((all) =>
          replace(
            forProduct,
            all.queries
              .filter((q) => q.parameters.some((p) => p.name === 'product' && p.type === 'iri'))
              .map((q) =>
                h('li', {}, h('a', { href: `#/queries?open=${encodeURIComponent(q.name)}&product=${encodeURIComponent(item.item)}` }, q.title), ' — ', q.purpose),
              ),
          ),
        )
        .catch((e) => replace(forProduct, h('li', { class: 'missing' }, failure(e))));
      return get('/v1/quality/issues', { focus: item.item, limit: 50 })
        .then((page) =>
          replace(
            findings,
            page.issues.length
              ? h(
                  'ul',
                  {},
                  page.issues.map((f) =>
                    h('li', { class: 'finding ' + f.severity }, h('strong', {}, `${f.severity} · ${f.kind}`), ': ', f.reason),
                  ),
                )
              : h('p', { class: 'missing' }, 'No findings (or `kgrec check` has not run on this store).'),
          ),
        )
        .catch((e) => replace(findings, h('p', { class: 'missing' }, failure(e))));
    })
    .catch((e) => status(failure(e), 'error'));
}

// ---- saved queries ------------------------------------------------------------------------

/** A cell of a SPARQL JSON result: products and customers link to their pages. */
function cell(term) {
  if (!term) return '';
  if (term.type === 'uri') {
    if (term.value.includes('/product/')) return h('a', { href: route('product', term.value) }, shortId(term.value));
    if (term.value.includes('/user/')) return h('a', { href: route('customer', term.value) }, shortId(term.value));
    return h('span', { title: term.value }, shortId(term.value));
  }
  return term.value;
}

const numeric = (term) => term && term.type === 'literal' && term.value.trim() !== '' && !Number.isNaN(Number(term.value));

/** A table whose columns sort on click (numbers as numbers), and a bar chart when the result
 *  is a count per group (a first column of groups, a second of numbers). */
function resultView(body) {
  if (typeof body.boolean === 'boolean') return h('p', { class: 'boolean' }, body.boolean ? 'Yes (true)' : 'No (false)');
  const vars = body.head.vars;
  let rows = body.results.bindings;
  const tbody = h('tbody');
  const fill = () =>
    replace(
      tbody,
      rows.map((r) =>
        h('tr', {}, vars.map((v) => h('td', { class: numeric(r[v]) ? 'num' : null, 'data-value': r[v] ? r[v].value : null }, cell(r[v])))),
      ),
    );
  const sortBy = (v, th) => {
    const down = th.getAttribute('aria-sort') !== 'ascending';
    const key = (r) => (numeric(r[v]) ? Number(r[v].value) : r[v] ? r[v].value : '');
    rows = [...rows].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return down ? c : -c;
    });
    for (const other of th.parentNode.children) other.removeAttribute('aria-sort');
    th.setAttribute('aria-sort', down ? 'ascending' : 'descending');
    fill();
  };
  const head = h(
    'tr',
    {},
    vars.map((v) => {
      const th = h('th', { scope: 'col' });
      th.append(h('button', { type: 'button', class: 'sort', onclick: () => sortBy(v, th) }, v));
      return th;
    }),
  );
  fill();
  const table = h('table', { class: 'results-table' }, h('thead', {}, head), tbody);
  const chart =
    vars.length >= 2 && rows.length >= 1 && rows.length <= 60 && rows.every((r) => !numeric(r[vars[0]]) && numeric(r[vars[1]]))
      ? barChart(rows, vars[0], vars[1])
      : null;
  return h('div', {}, h('p', { class: 'count' }, `${rows.length} rows`), chart, table);
}

/** Horizontal bars, one per group, in the DOM (no inline style: widths are classes of 5%). */
function barChart(rows, label, value) {
  const max = Math.max(...rows.map((r) => Number(r[value].value)), 0) || 1;
  return h(
    'figure',
    { class: 'bars' },
    h('figcaption', {}, `${value} per ${label}`),
    rows.map((r) => {
      const v = Number(r[value].value);
      const step = Math.max(1, Math.round((v / max) * 20)) * 5;
      return h(
        'div',
        { class: 'bar-row' },
        h('span', { class: 'bar-label' }, r[label] ? shortId(r[label].value) : '—'),
        h('span', { class: 'bar w' + step, role: 'img', 'aria-label': `${v}` }),
        h('span', { class: 'bar-value' }, r[value].value),
      );
    }),
  );
}

/** Downloads the same answer as CSV or JSON. */
async function download(url, accept, filename) {
  const r = await fetch(url, { headers: { Accept: accept } });
  if (!r.ok) throw new ApiError(r.status, 'download', `${r.status} ${r.statusText}`);
  const a = h('a', { href: URL.createObjectURL(await r.blob()), download: filename });
  document.body.append(a);
  a.click();
  a.remove();
}

function queriesPage(params) {
  const list = h('section', { class: 'queries' });
  replace(main, h('h2', {}, 'Saved queries'), list);
  const open = params.get('open');
  get('/v1/queries')
    .then((body) => {
      replace(
        list,
        body.queries.map((q) => {
          const out = h('div', { class: 'query-result', 'aria-live': 'polite' });
          const inputs = q.parameters.map((p) => {
            const id = `q-${q.name}-${p.name}`;
            const input = h('input', {
              id,
              name: p.name,
              required: !p.optional,
              autocomplete: 'off',
              placeholder: p.type === 'iri' ? 'type a name to look it up, or an IRI' : p.type,
              value: params.get(p.name) && open === q.name ? params.get(p.name) : null,
              list: p.type === 'iri' ? id + '-options' : null,
            });
            const options = h('datalist', { id: id + '-options' });
            if (p.type === 'iri') {
              let pending = 0;
              input.addEventListener('input', () => {
                const text = input.value.trim();
                if (text.length < 3 || text.includes('://')) return;
                const mine = ++pending;
                get('/v1/queries/find-by-name', { text }).then((found) => {
                  if (mine !== pending) return;
                  replace(
                    options,
                    found.results.bindings.map((b) => h('option', { value: b.node.value }, b.name ? b.name.value : '')),
                  );
                });
              });
            }
            return h(
              'div',
              { class: 'param' },
              h('label', { for: id }, `${p.name} (${p.type}${p.optional ? ', optional' : ''})`),
              input,
              options,
              h('small', {}, p.description),
            );
          });
          const url = (form) => {
            const query = new URLSearchParams();
            for (const [k, v] of new FormData(form)) if (String(v).trim()) query.set(k, String(v).trim());
            return `/v1/queries/${encodeURIComponent(q.name)}` + (String(query) ? '?' + query : '');
          };
          const form = h(
            'form',
            {
              class: 'query-form',
              'data-query': q.name,
              onsubmit: async (ev) => {
                ev.preventDefault();
                status(`Running ${q.title}…`);
                try {
                  const body = await get(url(ev.target));
                  replace(out, resultView(body));
                  status(`${q.title}: done`, 'ok');
                } catch (e) {
                  replace(out);
                  status(failure(e), 'error');
                }
              },
            },
            inputs,
            h(
              'div',
              { class: 'row' },
              h('button', { type: 'submit' }, 'Run'),
              h('button', { type: 'button', class: 'secondary', onclick: () => download(url(form), 'text/csv', q.name + '.csv').catch((e) => status(failure(e), 'error')) }, 'CSV'),
              h('button', { type: 'button', class: 'secondary', onclick: () => download(url(form), 'application/sparql-results+json', q.name + '.json').catch((e) => status(failure(e), 'error')) }, 'JSON'),
            ),
          );
          return h(
            'details',
            { class: 'query', id: 'query-' + q.name, open: open === q.name },
            h('summary', {}, h('strong', {}, q.title), ' ', h('code', {}, q.name)),
            h('p', {}, q.purpose),
            form,
            out,
          );
        }),
      );
      status(`${body.queries.length} saved queries`);
      // Opened with its parameters (from a product page): run it straight away.
      const opened = open && document.getElementById('query-' + open);
      if (opened) {
        opened.scrollIntoView();
        const form = opened.querySelector('form');
        if (form.checkValidity()) form.requestSubmit();
      }
    })
    .catch((e) => status(failure(e), 'error'));
}

// ---- SPARQL -------------------------------------------------------------------------------

const UPDATE_START = /^\s*(?:(?:PREFIX|BASE)\s[^\n]*\n\s*)*(INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY|WITH)\b/i;

async function sparqlPage() {
  const holder = h('div', { class: 'editor' });
  const out = h('section', { class: 'query-result', 'aria-live': 'polite' });
  const runButton = h('button', { type: 'button', id: 'sparql-run' }, 'Run');
  const csvButton = h('button', { type: 'button', class: 'secondary' }, 'CSV');
  replace(
    main,
    h('h2', {}, 'SPARQL'),
    h(
      'p',
      { class: 'hint' },
      'Queries run against /sparql with its limits; updates (INSERT, DELETE, …) need the update token. Ctrl-Enter runs; Ctrl-Space completes the ontology’s terms.',
    ),
    holder,
    h('div', { class: 'row' }, runButton, csvButton),
    out,
  );
  status('Loading the editor…');
  const { sparqlEditor, PREFIXES } = await import('./sparql.js');
  const prologue = Object.entries(PREFIXES)
    .map(([p, iri]) => `PREFIX ${p}: <${iri}>`)
    .join('\n');
  const example = `${prologue}\n\nSELECT ?product ?name WHERE {\n  ?product a schema:Product ;\n           schema:name ?name .\n}\nLIMIT 10\n`;
  const run = async () => {
    const text = editor.state.doc.toString();
    const isUpdate = UPDATE_START.test(text);
    const headers = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/sparql-results+json, text/turtle;q=0.9',
    };
    const token = updateToken.get();
    if (isUpdate && token) headers.Authorization = 'Bearer ' + token;
    status(isUpdate ? 'Updating…' : 'Running…');
    try {
      const r = await fetch('/sparql', {
        method: 'POST',
        headers,
        body: new URLSearchParams({ [isUpdate ? 'update' : 'query']: text }),
      });
      if (!r.ok) {
        const body = await r.json().catch(() => null);
        const message = body && body.error ? body.error.message : `${r.status} ${r.statusText}`;
        replace(out, h('p', { class: 'error-box', role: 'alert' }, message));
        status(`Refused (${r.status})`, 'error');
        return;
      }
      if (r.status === 204) {
        replace(out, h('p', { class: 'ok-box' }, 'Update applied.'));
        status('Update applied', 'ok');
        return;
      }
      const type = r.headers.get('Content-Type') || '';
      if (type.includes('json')) replace(out, resultView(await r.json()));
      else replace(out, h('pre', { class: 'graph-text' }, await r.text()));
      status('Done', 'ok');
    } catch (e) {
      status(failure(e), 'error');
    }
  };
  const editor = sparqlEditor(holder, example, run);
  runButton.addEventListener('click', run);
  csvButton.addEventListener('click', () => {
    const url = '/sparql?query=' + encodeURIComponent(editor.state.doc.toString());
    download(url, 'text/csv', 'query.csv').catch((e) => status(failure(e), 'error'));
  });
  status(updateToken.get() ? 'Ready; updates on' : 'Ready; read-only (updates need the token)');
}

// ---- model --------------------------------------------------------------------------------

const RECENCY = ['from the last item', 'from the two before', 'from the rest of the last ten'];

/** Bars of signed weights: length by magnitude, colour by sign. */
function weightChart(weights) {
  const max = Math.max(...weights.flatMap((w) => w.by_recency.map(Math.abs)), 0) || 1;
  return h(
    'figure',
    { class: 'bars weights' },
    h('figcaption', {}, 'Learned weight of each KG link kind, by how recent the item it links from is (blue: raises a candidate, red: lowers it)'),
    h('div', { class: 'legend' }, RECENCY.map((r, i) => h('span', { class: 'key r' + i }, r))),
    weights.map((w) =>
      h(
        'div',
        { class: 'weight-group', 'data-kind': w.kind },
        h('span', { class: 'bar-label' }, w.kind),
        h(
          'div',
          { class: 'weight-bars' },
          w.by_recency.map((x, i) => {
            const step = Math.max(1, Math.round((Math.abs(x) / max) * 20)) * 5;
            return h(
              'div',
              { class: 'bar-row' },
              h('span', { class: `bar w${step} r${i}${x < 0 ? ' neg' : ''}`, role: 'img', 'aria-label': `${RECENCY[i]}: ${x.toFixed(2)}` }),
              h('span', { class: 'bar-value' }, x.toFixed(2)),
            );
          }),
        ),
      ),
    ),
  );
}

function modelPage() {
  replace(main, h('h2', {}, 'Model'));
  status('Loading…');
  get('/v1/models')
    .then((body) => {
      const metric = (e, name) => (e.metrics[name] === undefined ? '—' : e.metrics[name].toFixed(4));
      const seconds = (e) => e.stages.reduce((t, s) => t + (s.seconds || 0), 0);
      append(main, [
        h('p', { class: 'served' }, body.served ? `Serving version ${body.served}.` : 'No model is registered yet: run kgrec train.'),
        body.link_weights.length ? weightChart(body.link_weights) : h('p', { class: 'missing' }, 'The served model learns no KG link weights.'),
        h('h3', {}, 'Registered versions'),
        h(
          'table',
          { class: 'results-table versions' },
          h(
            'thead',
            {},
            h('tr', {}, ['version', 'model', 'registered', 'holdout', 'seed', 'data', 'users', 'items', 'interactions', 'valid NDCG@10', 'test HR@10', 'test NDCG@10', 'training s'].map((c) => h('th', { scope: 'col' }, c))),
          ),
          h(
            'tbody',
            {},
            body.versions.map((e) =>
              h(
                'tr',
                { class: e.version === body.served ? 'served' : null, 'data-version': e.version },
                h('td', {}, String(e.version), e.version === body.served ? ' (served)' : ''),
                h('td', {}, e.model),
                h('td', {}, new Date(e.created_unix * 1000).toISOString().slice(0, 16).replace('T', ' ')),
                h('td', {}, e.holdout || 'none'),
                h('td', { class: 'num' }, String(e.seed)),
                h('td', {}, h('code', { title: e.data_hash }, e.data_hash.slice(0, 12))),
                ['users', 'items', 'training_interactions'].map((k) => h('td', { class: 'num' }, e.counts[k] === undefined ? '—' : String(e.counts[k]))),
                h('td', { class: 'num' }, metric(e, 'valid.NDCG@10')),
                h('td', { class: 'num' }, metric(e, 'test.HR@10')),
                h('td', { class: 'num' }, metric(e, 'test.NDCG@10')),
                h('td', { class: 'num' }, seconds(e).toFixed(0)),
              ),
            ),
          ),
        ),
        body.versions.map((e) =>
          h(
            'details',
            { class: 'version' },
            h('summary', {}, `Version ${e.version}: settings, stage costs, notes`),
            h(
              'table',
              { class: 'results-table' },
              h('thead', {}, h('tr', {}, ['stage', 'seconds', 'peak RSS MB'].map((c) => h('th', { scope: 'col' }, c)))),
              h('tbody', {}, e.stages.map((st) => h('tr', {}, h('td', {}, st.stage), h('td', { class: 'num' }, st.seconds.toFixed(1)), h('td', { class: 'num' }, st.peak_rss_bytes ? String(Math.round(st.peak_rss_bytes / 1048576)) : '—')))),
            ),
            e.exclusions ? h('p', {}, `Trained without flagged data (${e.exclusions.kinds.join(', ')}): ${e.exclusions.users_left_out} accounts left out, ${Object.keys(e.exclusions.item_aliases).length} duplicates merged.`) : null,
            h('ul', {}, e.notes.map((n) => h('li', {}, n))),
            h('pre', { class: 'graph-text' }, JSON.stringify(e.config, null, 2)),
          ),
        ),
      ]);
      status(`${body.versions.length} registered versions`);
    })
    .catch((e) => status(failure(e), 'error'));
}

// ---- frame --------------------------------------------------------------------------------

function tokenBox() {
  const box = document.getElementById('token');
  const input = h('input', { id: 'token-input', type: 'password', autocomplete: 'off' });
  const draw = () => {
    if (updateToken.get()) {
      replace(
        box,
        h('span', {}, 'Updates on'),
        h('button', { type: 'button', onclick: () => { updateToken.clear(); draw(); render(); } }, 'Forget token'),
      );
    } else {
      replace(
        box,
        h(
          'form',
          {
            class: 'row',
            onsubmit: (ev) => {
              ev.preventDefault();
              if (input.value) {
                updateToken.set(input.value);
                input.value = '';
                draw();
                render();
              }
            },
          },
          h('label', { for: 'token-input' }, 'Update token'),
          input,
          h('button', { type: 'submit' }, 'Use'),
        ),
      );
    }
  };
  draw();
}

const ROUTES = [
  [/^#?\/?(\?.*)?$/, (params) => searchPage(params)],
  [/^#\/customer\/([^?]+)(\?.*)?$/, (params, m) => customerPage(params, decodeURIComponent(m[1]))],
  [/^#\/product\/([^?]+)(\?.*)?$/, (params, m) => productPage(params, decodeURIComponent(m[1]))],
  [/^#\/queries\/?(\?.*)?$/, (params) => queriesPage(params)],
  [/^#\/sparql\/?(\?.*)?$/, () => sparqlPage()],
  [/^#\/model\/?(\?.*)?$/, () => modelPage()],
];

function render() {
  const hash = window.location.hash || '#/';
  status('');
  for (const [pattern, page] of ROUTES) {
    const m = hash.match(pattern);
    if (m) {
      const query = hash.includes('?') ? hash.slice(hash.indexOf('?') + 1) : '';
      page(new URLSearchParams(query), m);
      for (const a of document.querySelectorAll('nav a')) {
        a.toggleAttribute('aria-current', a.getAttribute('href') === hash.split('?')[0]);
      }
      return;
    }
  }
  replace(main, h('h2', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, hash), '.'));
}

tokenBox();
window.addEventListener('hashchange', render);
render();

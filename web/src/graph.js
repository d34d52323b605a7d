// Explanation paths drawn as a graph (cytoscape), with the same edges listed as text for
// keyboard and screen-reader users (and for the browser tests, which check every edge
// against the store).

import cytoscape from 'cytoscape';
import { h, shortId } from './dom.js';

/** The nodes and edges of explanation paths, each entity and each KG triple once. */
export function pathElements(paths) {
  const nodes = new Map();
  const edges = new Map();
  for (const path of paths) {
    path.steps.forEach((step, i) => {
      const e = step.entity;
      if (!nodes.has(e.iri)) {
        nodes.set(e.iri, {
          data: { id: e.iri, label: e.label || shortId(e.iri), kind: e.type },
          classes: e.type,
        });
      }
      const next = path.steps[i + 1];
      if (step.relation && next) {
        const r = step.relation;
        const [s, o] = r.inverse ? [next.entity.iri, e.iri] : [e.iri, next.entity.iri];
        const id = `${s} ${r.iri} ${o}`;
        edges.set(id, { data: { id, source: s, target: o, label: r.label, predicate: r.iri } });
      }
    });
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

/**
 * Positions read left to right: the root (customer or product) in the first column, then
 * each entity in the column of its distance from the root, spread down its column (labels
 * sit under nodes, so columns are wide and rows are apart).
 */
function columns(nodes, edges, root) {
  const next = new Map(nodes.map((n) => [n.data.id, []]));
  for (const e of edges) {
    next.get(e.data.source).push(e.data.target);
    next.get(e.data.target).push(e.data.source);
  }
  const depth = new Map([[root, 0]]);
  const queue = [root];
  while (queue.length) {
    const at = queue.shift();
    for (const n of next.get(at) || []) {
      if (!depth.has(n)) {
        depth.set(n, depth.get(at) + 1);
        queue.push(n);
      }
    }
  }
  const byColumn = new Map();
  for (const n of nodes) {
    const d = depth.has(n.data.id) ? depth.get(n.data.id) : 0;
    if (!byColumn.has(d)) byColumn.set(d, []);
    byColumn.get(d).push(n.data.id);
  }
  // A column taller than ROWS wraps into several, side by side.
  const ROWS = 6;
  const positions = {};
  let x = 0;
  for (const d of [...byColumn.keys()].sort((a, b) => a - b)) {
    const ids = byColumn.get(d);
    for (let start = 0; start < ids.length; start += ROWS) {
      const part = ids.slice(start, start + ROWS);
      part.forEach((id, i) => {
        positions[id] = { x, y: (i - (part.length - 1) / 2) * 70 };
      });
      x += 230;
    }
  }
  return positions;
}

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'font-size': 11,
      'text-wrap': 'ellipsis',
      'text-max-width': 150,
      'text-valign': 'bottom',
      'text-margin-y': 4,
      width: 18,
      height: 18,
      'background-color': '#8a94a6',
    },
  },
  { selector: 'node.user', style: { 'background-color': '#2f6fde', shape: 'round-rectangle' } },
  { selector: 'node.product', style: { 'background-color': '#1f9d6b' } },
  { selector: 'node.brand', style: { 'background-color': '#c77d0a', shape: 'diamond' } },
  { selector: 'node.category', style: { 'background-color': '#8e44ad', shape: 'hexagon' } },
  { selector: 'node.target', style: { 'border-width': 3, 'border-color': '#111' } },
  { selector: 'node.hub', style: { 'border-width': 2, 'border-style': 'dashed', 'border-color': '#555' } },
  {
    selector: 'edge',
    style: {
      label: 'data(label)',
      'font-size': 10,
      color: '#444',
      'text-background-color': '#fff',
      'text-background-opacity': 0.85,
      'text-background-padding': 2,
      'curve-style': 'bezier',
      'target-arrow-shape': 'triangle',
      width: 1.5,
      'line-color': '#9aa3b2',
      'target-arrow-color': '#9aa3b2',
    },
  },
];

/**
 * A figure: the graph of `nodes` and `edges` (cytoscape elements, as [`pathElements`] makes
 * them) laid out in columns from `root`, and the same edges as a list.
 */
export function graphFigure(nodes, edges, root, caption, className = 'path') {
  const canvas = h('div', { class: 'graph', role: 'img', 'aria-label': caption });
  const label = (iri) => {
    const n = nodes.find((x) => x.data.id === iri);
    return n ? n.data.label : shortId(iri);
  };
  const list = h(
    'ul',
    { class: 'edges' },
    edges.map((e) =>
      h(
        'li',
        { 'data-s': e.data.source, 'data-p': e.data.predicate, 'data-o': e.data.target },
        label(e.data.source),
        ' — ',
        h('em', {}, e.data.label),
        ' → ',
        label(e.data.target),
      ),
    ),
  );
  const figure = h('figure', { class: className }, canvas, h('figcaption', {}, caption), list);
  // Drawn once the figure is in the document (cytoscape needs the container's size).
  requestAnimationFrame(() => {
    cytoscape({
      container: canvas,
      elements: [...nodes, ...edges],
      style: STYLE,
      layout: { name: 'preset', positions: columns(nodes, edges, root), padding: 14, fit: true },
      userZoomingEnabled: false,
      userPanningEnabled: false,
      boxSelectionEnabled: false,
    });
  });
  return figure;
}

/** Explanation paths of one recommendation: `root` the customer, `target` outlined. */
export function pathFigure(paths, root, target, caption) {
  const { nodes, edges } = pathElements(paths);
  for (const n of nodes) if (n.data.id === target) n.classes += ' target';
  return graphFigure(nodes, edges, root, caption);
}

/** A product's neighbourhood as `/v1/items/{id}/neighbourhood` answers it. */
export function neighbourhoodFigure(answer, caption) {
  const nodes = answer.nodes.map((n) => ({
    data: {
      id: n.iri,
      label: (n.label || shortId(n.iri)) + (n.collapsed ? ` (${n.degree} links)` : ''),
      kind: n.type,
      hops: n.hops,
    },
    classes: n.type + (n.collapsed ? ' hub' : '') + (n.hops === 0 ? ' target' : ''),
  }));
  const edges = answer.edges.map((e) => ({
    data: {
      id: `${e.subject} ${e.predicate} ${e.object}`,
      source: e.subject,
      target: e.object,
      label: e.label,
      predicate: e.predicate,
    },
  }));
  return graphFigure(nodes, edges, answer.item, caption, 'neighbourhood');
}

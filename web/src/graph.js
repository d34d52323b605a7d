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
 * Positions read left to right: the customer in the first column, then each entity in the
 * column of its distance from the customer, spread down its column (labels sit under nodes,
 * so columns are wide and rows are apart).
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
  const tallest = Math.max(...[...byColumn.values()].map((c) => c.length));
  const positions = {};
  for (const [d, ids] of byColumn) {
    ids.forEach((id, i) => {
      positions[id] = { x: d * 230, y: (i - (ids.length - 1) / 2) * 70 + (tallest - 1) * 35 };
    });
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
 * Draws `paths` (of one recommendation) into a new figure: the graph, and the same edges as a
 * list. `root` (the customer) is laid out first, `target` (the recommended item) is outlined.
 */
export function pathFigure(paths, root, target, caption) {
  const { nodes, edges } = pathElements(paths);
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
  const figure = h('figure', { class: 'path' }, canvas, h('figcaption', {}, caption), list);
  for (const n of nodes) if (n.data.id === target) n.classes += ' target';
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

// Builds DOM from data without ever parsing it as HTML: text goes in as text nodes and
// attributes through setAttribute, so a product named `<img onerror=…>` shows as text.

/** An element: `h('a', {href: '#/x', class: 'card'}, 'text', child)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, strings, numbers, arrays of them; null skipped). */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** The last segment of an IRI, the short id the API also accepts. */
export function shortId(iri) {
  const cut = Math.max(iri.lastIndexOf('/'), iri.lastIndexOf('#'));
  return cut >= 0 ? decodeURIComponent(iri.slice(cut + 1)) : iri;
}

/** A link inside the page (hash route) with the given path segments, each encoded. */
export function route(...segments) {
  return '#/' + segments.map(encodeURIComponent).join('/');
}

// The SPARQL editor (CodeMirror 6 with the SPARQL mode of @codemirror/legacy-modes):
// highlighting, the store's prefixes, and completion of the ontology's terms. Loaded only on
// the SPARQL page, as its own chunk.

import { EditorView, keymap, lineNumbers, highlightActiveLine } from '@codemirror/view';
import { EditorState } from '@codemirror/state';
import { StreamLanguage, syntaxHighlighting, defaultHighlightStyle, bracketMatching } from '@codemirror/language';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { autocompletion, completionKeymap } from '@codemirror/autocomplete';
import { sparql } from '@codemirror/legacy-modes/mode/sparql';

/** The prefixes a query on kgrec's store usually needs. */
export const PREFIXES = {
  kgr: 'https://w3id.org/kgrec/ns#',
  schema: 'http://schema.org/',
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  rdfs: 'http://www.w3.org/2000/01/rdf-schema#',
  skos: 'http://www.w3.org/2004/02/skos/core#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  sh: 'http://www.w3.org/ns/shacl#',
};

/** The ontology's terms (`kgr:interactedWith`, `schema:Product`…) with kinds and labels,
 *  read from ontology/kgrec.ttl when the page is built (web/build.mjs). */
// eslint-disable-next-line no-undef
export const TERMS = __ONTOLOGY_TERMS__;

/** `terms`: prefixed names with their labels, for completion. */
function completeTerms(terms) {
  return (context) => {
    const word = context.matchBefore(/[A-Za-z][\w-]*:[\w-]*/);
    if (!word || (word.from === word.to && !context.explicit)) return null;
    return {
      from: word.from,
      options: terms.map((t) => ({ label: t.name, detail: t.label || '', type: t.kind })),
      validFor: /^[\w-]*:?[\w-]*$/,
    };
  };
}

/**
 * An editor in `host` holding `doc`; `run` is called on Ctrl/Cmd-Enter. It lives in a shadow
 * root, where CodeMirror's styles are adopted style sheets: in the document itself they would
 * be a <style> element, which the page's Content-Security-Policy forbids.
 */
export function sparqlEditor(host, doc, run) {
  const root = host.attachShadow({ mode: 'open' });
  const parent = document.createElement('div');
  root.append(parent);
  return new EditorView({
    parent,
    root,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        history(),
        bracketMatching(),
        highlightActiveLine(),
        StreamLanguage.define(sparql),
        syntaxHighlighting(defaultHighlightStyle),
        autocompletion({ override: [completeTerms(TERMS)] }),
        EditorView.theme({
          '&': { minHeight: '14rem', fontSize: '0.9rem', backgroundColor: '#fff' },
          '&.cm-focused': { outline: '3px solid #ffb020' },
          '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace' },
        }),
        keymap.of([
          { key: 'Mod-Enter', run: () => (run(), true) },
          ...completionKeymap,
          ...historyKeymap,
          ...defaultKeymap,
        ]),
        EditorView.contentAttributes.of({ 'aria-label': 'SPARQL query', 'data-testid': 'sparql-editor' }),
      ],
    }),
  });
}

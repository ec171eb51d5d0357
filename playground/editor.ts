// The spec editor: CodeMirror 6 with the compiler's diagnostics underlined as you type (the linter
// runs checkDocument, the same compilation as `attnc check`, a moment after each change).
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { linter, lintGutter, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';
import { EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { checkDocument, type Checked } from './check.js';

/** Milliseconds after the last keystroke before the document is compiled again. */
export const CHECK_DELAY_MS = 250;

export interface SpecEditor {
  view: EditorView;
  /** The compilation of the document as it is now (compiled here when the linter has not yet seen the last change). */
  current(): Checked;
  /** Replaces the document with the file `name` holding `text`. */
  open(name: string, text: string): void;
}

/** An editor in `parent` holding the file `name` with `text`; `onChecked` sees every compilation of the document. */
export function createEditor(parent: HTMLElement, name: string, text: string, onChecked: (c: Checked) => void): SpecEditor {
  let latest = { name, text, checked: checkDocument(name, text) };
  const check = (now: string): Checked => {
    if (now !== latest.text || name !== latest.name) {
      latest = { name, text: now, checked: checkDocument(name, now) };
      onChecked(latest.checked);
    }
    return latest.checked;
  };
  const lint = linter(
    (view): CmDiagnostic[] =>
      check(view.state.doc.toString()).placed.map((p) => ({ from: p.from, to: p.to, severity: p.severity, source: 'attnc', message: p.message })),
    { delay: CHECK_DELAY_MS },
  );
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(), highlightActiveLine(), history(), lintGutter(), lint, EditorView.lineWrapping,
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.theme({ '&': { height: '100%' }, '.cm-scroller': { fontFamily: 'ui-monospace, monospace' } }),
      ],
    }),
  });
  onChecked(latest.checked);
  const current = () => check(view.state.doc.toString());
  const open = (file: string, content: string) => {
    name = file;
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: content } });
    current();
  };
  return { view, current, open };
}

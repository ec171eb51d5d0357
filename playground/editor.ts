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
  /** The latest compilation of the document. */
  latest(): Checked;
}

/** An editor in `parent` holding `text`; `onChecked` sees every compilation of the document `name`. */
export function createEditor(parent: HTMLElement, name: string, text: string, onChecked: (c: Checked) => void): SpecEditor {
  let latest = checkDocument(name, text);
  const lint = linter(
    (view): CmDiagnostic[] => {
      latest = checkDocument(name, view.state.doc.toString());
      onChecked(latest);
      return latest.placed.map((p) => ({ from: p.from, to: p.to, severity: p.severity, source: 'attnc', message: p.message }));
    },
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
  onChecked(latest);
  return { view, latest: () => latest };
}

// Source spans: where in a .attn file something was written. Below every stage (core/ imports nothing
// of the project): the grammar attaches them to the AST, diagnostics point at them, the IR keeps them.

/** A region of a source file. Lines and columns are 1-based; endCol is exclusive. */
export interface Span {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  /** 0-based character offsets into the file's text; endOffset is exclusive. */
  offset: number;
  endOffset: number;
}

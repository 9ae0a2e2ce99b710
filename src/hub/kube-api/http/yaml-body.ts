/**
 * YAML request bodies, parsed without letting the parser near deep nesting: the `yaml` package
 * composes flow collections (`[[[...]]]`, `{a: {a: ...}}`) recursively, and ten thousand levels
 * of them exhaust the process's memory inside V8 (a fatal error no `catch` sees), a thousand
 * overflow its stack. So the flow nesting is measured on the lexer's tokens first, which know
 * quotes, comments and block scalars, and never recurse.
 */
import YAML from 'yaml';

/**
 * Whether YAML text nests flow collections deeper than `limit`. Most bodies hold fewer `[` and
 * `{` in all than the limit and are answered without lexing.
 */
export function yamlFlowNestsDeeperThan(text: string, limit: number): boolean {
  let openings = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x5b || code === 0x7b) openings++;
  }
  if (openings <= limit) return false;
  let depth = 0;
  for (const token of new YAML.Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      if (++depth > limit) return true;
    } else if (token === ']' || token === '}') depth = Math.max(0, depth - 1);
  }
  return false;
}

/**
 * The one document of a YAML body as plain JSON values.
 * @throws Error for a parse error, more or fewer than one document
 */
export function parseYamlDocument(text: string): unknown {
  const documents = YAML.parseAllDocuments(text);
  if (documents.length !== 1) throw new Error('expected exactly one YAML document');
  const document = documents[0]!;
  if (document.errors.length > 0) throw document.errors[0]!;
  return document.toJS();
}

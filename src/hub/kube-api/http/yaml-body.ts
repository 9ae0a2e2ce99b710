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
  // The parser's own duplicate-key check compares each key of a map with every other: a 30,000-key
  // map took 25 s of the hub's one thread. The same check is made below in one pass.
  const documents = YAML.parseAllDocuments(text, { uniqueKeys: false });
  if (documents.length !== 1) throw new Error('expected exactly one YAML document');
  const document = documents[0]!;
  if (document.errors.length > 0) throw document.errors[0]!;
  checkUniqueKeys(document.contents);
  return document.toJS();
}

/**
 * Refuses a map with the same key twice (as the parser's `uniqueKeys` would), walking the nodes
 * with a stack of its own: block nesting is not bounded before parsing as flow nesting is.
 * @throws Error `Map keys must be unique`
 */
function checkUniqueKeys(root: unknown): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (YAML.isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = YAML.isScalar(pair.key)
          ? `${typeof pair.key.value}:${String(pair.key.value)}`
          : `node:${String(pair.key)}`;
        if (seen.has(key)) throw new Error('Map keys must be unique');
        seen.add(key);
        stack.push(pair.key, pair.value);
      }
    } else if (YAML.isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
}

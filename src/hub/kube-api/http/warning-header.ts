/**
 * The `Warning` header values of an answer (RFC 7234 code 299, as the
 * apiserver sends them), bounded: a hostile body with thousands of unknown
 * fields must not make an answer whose headers no client takes (Node's
 * HTTP/1.1 client refuses more than 16 KiB of headers). As the apiserver's
 * warning recorder does, each text is truncated and the total capped; what is
 * left out is counted in a last warning.
 */

/** Characters of one warning's text. */
const MAX_ITEM_CHARS = 1024;
/** Characters of all the warning values together. */
const MAX_TOTAL_CHARS = 8 * 1024;

/** `299 - "text"` for each warning, within the bounds above. */
export function warningHeaderValues(warnings: readonly string[]): string[] {
  const values: string[] = [];
  let total = 0;
  for (const [index, text] of warnings.entries()) {
    const item = text.length > MAX_ITEM_CHARS ? `${text.slice(0, MAX_ITEM_CHARS)}...` : text;
    const value = `299 - ${JSON.stringify(item)}`;
    if (total + value.length > MAX_TOTAL_CHARS) {
      values.push(`299 - ${JSON.stringify(`${warnings.length - index} more warnings not shown`)}`);
      break;
    }
    values.push(value);
    total += value.length;
  }
  return values;
}

// Quoting SQL text inside generated SQL.

/** A SQL string literal. */
export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * `body` as a dollar-quoted literal, with a tag that cannot end it early: neither `$tag$` inside
 * the body nor one formed across the body's end (a body ending in `$tag`).
 */
export function dollarQuote(body: string, baseTag: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(baseTag)) throw new Error(`invalid dollar-quote tag ${baseTag}`);
  for (let n = 0; ; n += 1) {
    const delimiter = `$${n === 0 ? baseTag : `${baseTag}_${n}`}$`;
    if ((body + delimiter).indexOf(delimiter) === body.length) return `${delimiter}${body}${delimiter}`;
  }
}

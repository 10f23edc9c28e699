// Strings that came from outside (a JWKS `kid`, an issuer, a stored sync error) are printed with
// their control characters escaped: a hostile key set must not be able to move the cursor, rewrite
// earlier lines or recolour the terminal of the DBA reading `authdb keys list` (docs/security.md §8:
// a provider whose JWKS is hostile).

/**
 * C0 and C1 controls (ESC, CSI, BEL, CR, LF, …), DEL, and the Unicode format characters that
 * reorder or hide text (bidi embeddings, overrides and isolates, line and paragraph separators).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** `text` with every unsafe character written as `\xNN` (up to U+00FF) or `\uNNNN`. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (character) => {
    const code = character.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

// Why `authdb why` could not answer: a stable code, one line, and what to do about it.
export type WhyErrorCode =
  | 'bad_table' | 'unknown_table' | 'ambiguous_table' | 'no_primary_key' | 'bad_key' | 'no_such_row'
  | 'cannot_read_table' | 'cannot_sandbox';

export class WhyError extends Error {
  constructor(
    readonly code: WhyErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'WhyError';
  }
}

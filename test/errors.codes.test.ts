// The library's errors (src/errors.ts): each is an AuthdbError with a stable code and hint, a
// database error behind one keeps its SQLSTATE, DETAIL and HINT, and the CLI reports them with
// the documented `--json` error codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthdbError, ConnectError, databaseCause, EmbeddedPostgresMissingError, FetchError, InvalidSettingError, KeyInputError,
  KeyLimitError, KeySetError, MigrateError, NoDatabaseError, NoUsableKeyError, RegistryError, SealRotationError, TransactionAbortedError,
} from '../src/index.js';
import { withClient } from '../src/connection.js';
import { authdb, expectOneLineError, jsonOutput } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

describe('AuthdbError', () => {
  it('every error class of the library is an AuthdbError with its own name and a stable code', () => {
    const errors: [AuthdbError, string][] = [
      [new ConnectError('no answer', 'connect_timeout'), 'connect_timeout'],
      [new NoDatabaseError(), 'no_database'],
      [new InvalidSettingError('--leeway must be 0 to 3600', 'a hint'), 'invalid_option'],
      [new RegistryError('no provider named x', 'unknown_provider'), 'unknown_provider'],
      [new KeyInputError('not JSON', 'invalid_file'), 'invalid_file'],
      [new SealRotationError('refused', 'run as the owner'), 'seal_rotation_refused'],
      [new FetchError('https://x.test: timeout', true), 'fetch_failed'],
      [new KeySetError('the key set is empty'), 'invalid_key_set'],
      [new KeyLimitError('over max_keys'), 'key_limit'],
      [new NoUsableKeyError('no usable key'), 'no_usable_key'],
      [new EmbeddedPostgresMissingError(), 'embedded_postgres_missing'],
      [new MigrateError('lock_timeout', 'another migrate holds the lock', 'wait'), 'lock_timeout'],
      [new TransactionAbortedError(), 'transaction_aborted'],
    ];
    for (const [error, code] of errors) {
      expect(error, code).toBeInstanceOf(AuthdbError);
      expect(error, code).toBeInstanceOf(Error);
      expect(error.code).toBe(code);
      expect(error.name).toBe(error.constructor.name);
    }
    expect(new InvalidSettingError('x', 'a hint').hint).toBe('a hint');
    expect(new MigrateError('dependents', 'refusing', 'drop them first').message).toBe('refusing; drop them first');
  });

  it('keeps the SQLSTATE, DETAIL and HINT of the database error it wraps', async () => {
    const serverError = await withClient(db.url, (client) =>
      client.query(`SELECT auth.add_provider('e1', 'https://e1.test', p_algorithms => '{none}')`).then(() => null, (error: unknown) => error));
    const wrapped = new AuthdbError('registration_failed', 'could not register e1', { cause: serverError });
    expect(wrapped.cause).toBe(serverError);
    expect(databaseCause(wrapped)).toEqual({ sqlstate: '22023', hint: expect.stringMatching(/^supported: HS256 /) });
    expect(databaseCause(new AuthdbError('x', 'no database behind it'))).toBeUndefined();
  });

  it('a connection failure is a ConnectError, with the socket error as its cause', async () => {
    const error = await withClient('postgres://nobody@127.0.0.1:1/none', async () => undefined).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe('connect_failed');
    expect((error as ConnectError).cause).toBeDefined();
  });
});

describe('the CLI reports library errors with the documented codes', () => {
  it('a refused JWKS URL (FetchError) is `failed`, one line, exit 1', async () => {
    const result = await authdb(['provider', 'add', 'plain', '--issuer', 'https://plain.example', '--jwks-url', 'http://plain.example/jwks.json',
      '--json', '--database-url', db.url]);
    expectOneLineError(result, 1, /plain http is refused for a non-loopback host/);
    expect(jsonOutput<{ error: unknown }>(result).error).toEqual({
      code: 'failed', message: expect.stringMatching(/plain http is refused/), hint: expect.any(String),
    });
  });
});

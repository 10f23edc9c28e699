// `authdb verify`: verification runs inside the database, exactly as auth.init would run it.
import type pg from 'pg';
import { rejectionOf, type Rejection } from './errors.js';

export type VerifyOutcome = { valid: true; claims: Record<string, unknown> } | ({ valid: false } & Rejection);

export async function verifyToken(client: pg.ClientBase, jwt: string): Promise<VerifyOutcome> {
  try {
    const { rows } = await client.query<{ claims: Record<string, unknown> }>('SELECT auth.verify($1) AS claims', [jwt]);
    return { valid: true, claims: rows[0]!.claims };
  } catch (error) {
    const rejection = rejectionOf(error);
    if (rejection) return { valid: false, ...rejection };
    throw error;
  }
}

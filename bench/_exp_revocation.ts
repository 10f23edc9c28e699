import pg from 'pg';
import { migrateUp } from '../src/migrate.js';
import { startDebianCluster } from '../tools/pg-cluster.js';
const cluster = await startDebianCluster({ settings: { autovacuum: 'off' } });
const c = new pg.Client({ connectionString: cluster.url() });
try {
  await c.connect();
  await migrateUp(c);
  await c.query(`SELECT auth.add_provider('bench', 'https://b', NULL, '{bench}')`);
  await c.query(`INSERT INTO auth.revocations (provider_id, kind, value, issued_before)
    SELECT p.id, k.kind, k.kind || '-' || g || '-' || md5(g::text), CASE WHEN k.kind = 'subject' THEN now() - interval '1 hour' END
      FROM auth.providers AS p, generate_series(1, 99999) AS g,
      LATERAL (SELECT CASE WHEN g % 2 = 0 THEN 'subject' WHEN g % 4 = 1 THEN 'token' ELSE 'session' END AS kind) AS k`);
  await c.query('VACUUM ANALYZE auth.revocations');
  console.log((await c.query(`EXPLAIN SELECT r.kind FROM auth.revocations AS r WHERE r.provider_id = 1 AND r.value = ANY (ARRAY['a','b','c']) LIMIT 1`)).rows.map((r) => r['QUERY PLAN']).join('\n'));
  const claims = JSON.stringify({ sub: 'user-live', jti: 'abcdef0123', sid: 'sid0123456', iat: Math.floor(Date.now() / 1000), exp: 2e9 });
  const variants: Record<string, string> = {
    inline_query: `SELECT r.kind INTO k FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = ANY (ARRAY[c->>'sub', c->>'jti', c->>'sid']) AND CASE r.kind WHEN 'subject' THEN r.value = c->>'sub' WHEN 'token' THEN r.value = c->>'jti' WHEN 'session' THEN r.value = c->>'sid' END LIMIT 1;`,
    saop_plain: `SELECT r.kind INTO k FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = ANY (ARRAY[c->>'sub', c->>'jti', c->>'sid']) LIMIT 1;`,
    union3: `SELECT x.kind INTO k FROM (SELECT r.kind FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = c->>'sub' AND r.kind = 'subject' UNION ALL SELECT r.kind FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = c->>'jti' AND r.kind = 'token' UNION ALL SELECT r.kind FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = c->>'sid' AND r.kind = 'session') AS x LIMIT 1;`,
    vars_saop: `s1 := c->>'sub'; s2 := c->>'jti'; s3 := c->>'sid'; SELECT r.kind INTO k FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = ANY (ARRAY[s1, s2, s3]) LIMIT 1;`,
    vars_union3: `s1 := c->>'sub'; s2 := c->>'jti'; s3 := c->>'sid'; SELECT x.kind INTO k FROM (SELECT r.kind FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = s1 AND r.kind = 'subject' UNION ALL SELECT r.kind FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = s2 AND r.kind = 'token' UNION ALL SELECT r.kind FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = s3 AND r.kind = 'session') AS x LIMIT 1;`,
    one_value_var: `s1 := c->>'sub'; SELECT r.kind INTO k FROM auth.revocations AS r WHERE r.provider_id = p.id AND r.value = s1 LIMIT 1;`,
  };

  for (const [name, body] of Object.entries(variants)) {
    await c.query(`CREATE OR REPLACE FUNCTION pg_temp.x_${name}(c jsonb, n int) RETURNS numeric LANGUAGE plpgsql AS $$
      DECLARE p auth.providers; v numeric; k text; b boolean; t timestamptz; s1 text; s2 text; s3 text;
      BEGIN SELECT * INTO p FROM auth.providers WHERE name = 'bench'; t := clock_timestamp();
      FOR i IN 1 .. n LOOP ${body} END LOOP;
      RETURN extract(epoch FROM clock_timestamp() - t) * 1e6 / n; END $$`);
  }
  for (let round = 0; round < 3; round++) {
    const out: string[] = [];
    for (const name of Object.keys(variants)) {
      await c.query(`SELECT pg_temp.x_${name}($1, 1000)`, [claims]);
      const runs = [];
      for (let t = 0; t < 5; t++) runs.push(Number((await c.query(`SELECT pg_temp.x_${name}($1, 30000) AS us`, [claims])).rows[0].us));
      runs.sort((a, b) => a - b);
      out.push(`${name}=${runs[2]!.toFixed(2)}`);
    }
    console.log(out.join('  '));
  }
} finally {
  await c.end();
  cluster.destroy();
}

-- Escaping, hashing and rendering of key templates.
\set VERBOSITY terse

-- Every reserved byte is escaped as %XX (uppercase hex); others pass through.
SELECT strata.escape_segment(v) AS escaped
  FROM unnest(ARRAY['plain', 'a:b', 'a*', 'a?', '[x]', 'back\slash', '{id}', '100%',
                    'two words', E'tab\there', E'new\nline', E'\x7f', 'ünïcode', '', '%H00']) AS v;

-- A value cannot add segments or glob metacharacters.
SELECT strata.escape_segment('a:b*') AS escaped,
       strata.render('authz:user:{id}', ARRAY['id'], ARRAY['a:b*']) AS key,
       array_length(string_to_array(strata.render('authz:user:{id}', ARRAY['id'], ARRAY['a:b*:c:d']), ':'), 1) AS segments,
       strpos(strata.render('authz:user:{id}', ARRAY['id'], ARRAY['*?[]{}\']), '*') AS star_at;

-- Long values: escaped form up to 128 bytes, else %H + 32 hex digits of SHA-256 of the raw value.
SELECT length(strata.escape_segment(repeat('x', 128))) AS len_128,
       strata.escape_segment(repeat('x', 129)) AS hashed_129,
       length(strata.escape_segment(repeat(':', 42))) AS len_escaped_126,
       strata.escape_segment(repeat(':', 43)) AS hashed_escaped_129;
SELECT strata.escape_segment(v) = '%H' || left(encode(sha256(convert_to(v, 'UTF8')), 'hex'), 32) AS sha256_prefix,
       strata.escape_segment(v) = strata.escape_segment(v) AS deterministic,
       strata.escape_segment(v) <> strata.escape_segment(v || 'y') AS distinct_values
  FROM (SELECT repeat('long value ', 1000) AS v) s;

-- Several placeholders; prefix templates; NULL values give no key.
SELECT strata.render('authz:team:{team_id}:user:{user_id}', ARRAY['user_id', 'team_id'], ARRAY['7', '42']) AS two;
SELECT strata.render('authz:team:{team_id}:*', ARRAY['team_id'], ARRAY['42']) AS prefix;
SELECT strata.render('authz:{a}:{b}', ARRAY['a', 'b'], ARRAY['x', NULL]) IS NULL AS null_gives_null;
SELECT strata.render('static:key', NULL, NULL) AS literal_only;
SELECT strata.render('authz:{a}:{a}', ARRAY['a'], ARRAY['same']) AS repeated;
SELECT strata.render('t:%2A:{a}', ARRAY['a'], ARRAY['1']) AS escaped_literal;
SELECT strata.render(NULL, NULL, NULL) IS NULL AS null_template;

-- Invalid templates (with the reason in DETAIL).
\set VERBOSITY default
SELECT strata.render('authz:user{id}', ARRAY['id'], ARRAY['1']);
SELECT strata.render('authz:{id}x', ARRAY['id'], ARRAY['1']);
SELECT strata.render('authz::{id}', ARRAY['id'], ARRAY['1']);
SELECT strata.render('authz:*:{id}', ARRAY['id'], ARRAY['1']);
SELECT strata.render('authz:us*er', NULL, NULL);
SELECT strata.render('*', NULL, NULL);
SELECT strata.render('', NULL, NULL);
SELECT strata.render('has space:{id}', ARRAY['id'], ARRAY['1']);
SELECT strata.render('q?:{id}', ARRAY['id'], ARRAY['1']);
SELECT strata.render('pct%:{id}', ARRAY['id'], ARRAY['1']);
SELECT strata.render('pct%41:{id}', ARRAY['id'], ARRAY['1']);
SELECT strata.render(E'ctl\x01:{id}', ARRAY['id'], ARRAY['1']);
SELECT strata.render('{}', NULL, NULL);
SELECT strata.render('a:{{id}}', ARRAY['id'], ARRAY['1']);
\set VERBOSITY terse
SELECT strata.render(repeat('a', 257), NULL, NULL);
SELECT length(strata.render(repeat('a', 256), NULL, NULL)) AS len_256;
\set VERBOSITY default
SELECT strata.render('authz:{nope}', ARRAY['id', 'team_id'], ARRAY['1', '2']);
SELECT strata.render('authz:{id}', ARRAY['id'], ARRAY['1', '2']);

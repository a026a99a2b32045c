-- Structure: the reference schema, the views and their indexes, the registry, the watches.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
begin;
select plan(25);

select has_table('authz', t, 'authz.' || t || ' exists')
  from unnest(array['users', 'teams', 'team_members', 'projects', 'generations', 'grants']) t;
select enum_has_labels('authz', 'team_role', array['owner', 'admin', 'editor', 'contributor', 'viewer'], 'team roles');
select enum_has_labels('authz', 'visibility', array['private', 'team', 'public'], 'visibilities');
select enum_has_labels('authz', 'action', array['read', 'create', 'write', 'delete', 'share', 'admin'], 'actions');
select enum_has_labels('authz', 'generation_status', array['queued', 'running', 'succeeded', 'failed', 'canceled'], 'generation statuses');
select throws_ok($$insert into authz.projects (id, name, owner_user_id, owner_team_id) values (1, 'x', null, null)$$,
                 '23514', null, 'a project has exactly one owner');
select throws_ok($$insert into authz.grants (user_id, action) values (1, 'read')$$, '23502', null, 'a grant names exactly one resource (no resource: no resource_id)');

select has_materialized_view('strata', v, 'strata.' || v || ' exists')
  from unnest(array['mv_user_authorization_context', 'mv_team_collaboration_patterns', 'mv_generation_performance_stats']) v;
select index_is_unique('strata', v, i, v || ': unique index ' || i || ' (REFRESH ... CONCURRENTLY)')
  from (values ('mv_user_authorization_context', 'mv_user_authorization_context_key'),
               ('mv_team_collaboration_patterns', 'mv_team_collaboration_patterns_key'),
               ('mv_generation_performance_stats', 'mv_generation_performance_stats_key')) x(v, i);
select is((select array_agg(name || ':' || mark_prefix || ':' || periodic_interval order by name) from strata.views),
          array['mv_generation_performance_stats:gps::00:15:00', 'mv_team_collaboration_patterns:tcp::00:15:00',
                'mv_user_authorization_context:uac::00:15:00'], 'registry: three views, mark prefixes, 15 min periodic refresh');
select is((select count(*) from strata.views v where not exists (select 1 from unnest(v.source_tables) t where to_regclass(t) is null)),
          3::bigint, 'registry: source tables exist');
select is((select array_agg(tbl::text order by tbl::text) from strata.watches),
          array['authz.generations', 'authz.grants', 'authz.projects', 'authz.team_members', 'authz.teams', 'authz.users'],
          'every base table is watched');
-- every view's source table has a watch producing that view's marks
select is((select count(*) from strata.views v cross join unnest(v.source_tables) t
            where not exists (select 1 from strata.watches w cross join unnest(w.marks) m
                               where w.tbl::text = t and m like v.mark_prefix || '%')), 0::bigint,
          'every source table of a view writes marks for it');
select ok(exists (select 1 from pg_index i
                  where i.indrelid = 'strata.dirty_marks'::regclass
                    and i.indkey[0] = (select attnum from pg_attribute where attrelid = i.indrelid and attname = 'mark')
                    and i.indclass[0] = (select oid from pg_opclass where opcname = 'text_pattern_ops'
                                           and opcmethod = (select oid from pg_am where amname = 'btree'))),
          'dirty marks indexed on mark (text_pattern_ops: exact probes and prefix scans)');
select has_view('strata', 'cache_performance_last_hour', 'the last-hour summary view exists');
select col_is_pk('strata', 'cache_performance_realtime', array['bucket_start', 'instance', 'layer'], 'one row per bucket, instance, layer');

select * from finish();
rollback;

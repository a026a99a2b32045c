-- Roles and least privilege: what strata_app and strata_worker can and cannot do, and the
-- properties of every L3 function (SECURITY DEFINER + pinned search_path, no PUBLIC execute).
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\ir _fixture.psql
begin;
select plan(49);

select ok(exists (select 1 from pg_roles where rolname = r and not rolcanlogin and not rolsuper and not rolcreaterole
                  and not rolcreatedb and not rolbypassrls), r || ' exists: NOLOGIN, no special attributes')
  from unnest(array['strata_app', 'strata_worker', 'strata_definer']) r;

-- every non-extension function in strata / strata_private
create temp view l3_functions as
    select p.oid, p.oid::regprocedure::text as sig, p.prosecdef, p.proconfig, p.provolatile, n.nspname
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('strata', 'strata_private', 'authz')
       and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e');
select is((select string_agg(sig, ', ') from l3_functions where prosecdef
             and not coalesce('search_path=pg_catalog, pg_temp' = any (proconfig), false)), null,
          'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');
select is((select string_agg(sig, ', ') from l3_functions where has_function_privilege('public', oid, 'execute')), null,
          'PUBLIC may execute none of them');
select is((select string_agg(sig, ', ') from l3_functions where nspname = 'strata' and not prosecdef), null,
          'every strata.* function is SECURITY DEFINER (owner strata_definer reads what the caller cannot)');
select is((select string_agg(sig, ', ') from l3_functions where nspname <> 'strata' and prosecdef), null,
          'internal helpers are not SECURITY DEFINER');
select is((select string_agg(sig, ', ') from l3_functions
            where sig ~ '^strata\.(check_access|allowed_actions|user_authorization_context|team_collaboration|generation_stats)\('
              and provolatile <> 's'), null, 'lookups are STABLE');
select is((select string_agg(sig, ', ') from l3_functions where pg_get_userbyid((select proowner from pg_proc where oid = l3_functions.oid)) <> 'strata_definer'),
          null, 'strata_definer owns every L3 function');
select is((select string_agg(c.oid::regclass::text, ', ') from pg_class c
            where c.relkind = 'm' and c.relnamespace = 'strata'::regnamespace
              and pg_get_userbyid(c.relowner) <> 'strata_definer'), null, 'strata_definer owns the materialized views');

-- what the roles may execute, exactly
select is((select array_agg(sig order by sig) from l3_functions where has_function_privilege('strata_app', oid, 'execute')),
          array['strata.allowed_actions(bigint,text,bigint)', 'strata.check_access(bigint,text,bigint,text)',
                'strata.generation_stats(bigint,bigint)',
                'strata.record_performance(text,text,bigint,bigint,bigint,double precision,double precision,double precision,bigint,bigint,bigint,timestamp with time zone,interval)',
                'strata.team_collaboration(bigint)',
                'strata.user_authorization_context(bigint,text,bigint,integer,boolean)'],
          'strata_app may execute the lookups and record_performance, nothing else');
select is((select array_agg(sig order by sig) from l3_functions where has_function_privilege('strata_worker', oid, 'execute')),
          array['strata.prune_performance(interval,interval)', 'strata.prune_refresh_history(interval)',
                'strata.record_performance(text,text,bigint,bigint,bigint,double precision,double precision,double precision,bigint,bigint,bigint,timestamp with time zone,interval)',
                'strata.record_refresh_failure(text,text,timestamp with time zone)',
                'strata.refresh_candidates()', 'strata.refresh_view(text)', 'strata.refresh_view_if_due(text)',
                'strata.worker_read(bigint,bigint[],bigint[],integer)'],
          'strata_worker may refresh, poll candidates, record failures, prune, record performance, read the outbox');
select ok(not has_table_privilege(r, v, 'select'), r || ' cannot read ' || v)
  from unnest(array['strata_app', 'strata_worker']) r,
       unnest(array['strata.mv_user_authorization_context', 'strata.mv_team_collaboration_patterns',
                    'strata.mv_generation_performance_stats']) v;

-- As the application.
set role strata_app;
select throws_ok('select * from strata.mv_user_authorization_context', '42501', null, 'app: cannot read mv_user_authorization_context');
select throws_ok('select * from strata.mv_team_collaboration_patterns', '42501', null, 'app: cannot read mv_team_collaboration_patterns');
select throws_ok('select * from strata.mv_generation_performance_stats', '42501', null, 'app: cannot read mv_generation_performance_stats');
select throws_ok($$insert into strata.change_log (op, keys) values ('M', '{authz:user:1}')$$, '42501', null, 'app: cannot write the outbox');
select throws_ok('select * from strata.change_log', '42501', null, 'app: cannot read the outbox');
select throws_ok($$insert into strata.dirty_marks (mark, seq, xid) values ('uac:user:1', 0, '1')$$, '42501', null, 'app: cannot write dirty marks');
select throws_ok('delete from strata.dirty_marks', '42501', null, 'app: cannot clear dirty marks');
select throws_ok($$select strata.invalidate('{authz:user:1}')$$, '42501', null, 'app: cannot call strata.invalidate');
select throws_ok('select * from authz.projects', '42501', null, 'app: cannot read the base tables through the lookups'' owner');
select throws_ok('select * from strata_private.authorization_live', '42501', null, 'app: cannot use the live rule views');
select throws_ok($$select * from strata.refresh_view('mv_user_authorization_context')$$, '42501', null, 'app: cannot refresh');
select throws_ok('select * from strata.refresh_candidates()', '42501', null, 'app: cannot poll the scheduler input');
select throws_ok('select * from strata.views', '42501', null, 'app: cannot read the registry');
select throws_ok('select * from strata.cache_performance_realtime', '42501', null, 'app: cannot read performance rows');
select ok(strata.check_access(1, 'project', 103, 'admin'), 'app: check_access works');
select is((select actions from strata.allowed_actions(5, 'project', 103)), '{read}', 'app: allowed_actions works');
select is((select count(*) from strata.user_authorization_context(1)), 4::bigint, 'app: user_authorization_context works');
select is((select members from strata.team_collaboration(10)), 5::bigint, 'app: team_collaboration works');
select is((select generations from strata.generation_stats(3, 103)), 1::bigint, 'app: generation_stats works');
select lives_ok($$select strata.record_performance('app-1', 'l1', 10, 9, 1)$$, 'app: record_performance works');
reset role;

-- As the worker.
set role strata_worker;
select lives_ok('select count(*) from strata.change_log', 'worker: reads the outbox');
select lives_ok('delete from strata.change_log where seq < 0', 'worker: deletes from the outbox');
select throws_ok($$insert into strata.change_log (op, keys) values ('M', '{x}')$$, '42501', null, 'worker: cannot write the outbox');
select lives_ok($$insert into strata.consumer_offsets (consumer, last_seq) values ('test', 1)
                  on conflict (consumer) do update set last_seq = excluded.last_seq, updated_at = now()$$, 'worker: keeps its cursor');
select is((select outcome from strata.refresh_view('mv_user_authorization_context')), 'ok', 'worker: refreshes');
select lives_ok('select * from strata.refresh_candidates()', 'worker: polls the candidates');
select lives_ok('select * from strata.views', 'worker: reads the registry');
select lives_ok('select * from strata.prune_performance()', 'worker: prunes performance rows');
select throws_ok('select * from strata.mv_user_authorization_context', '42501', null, 'worker: cannot read the views');
select throws_ok($$select strata.check_access(1, 'project', 103, 'read')$$, '42501', null, 'worker: does not need the lookups');
select throws_ok('select * from authz.users', '42501', null, 'worker: cannot read the base tables');
reset role;

select * from finish();
rollback;

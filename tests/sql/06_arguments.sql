-- Wrong arguments give clear errors (SQLSTATE 22023), never a silent false.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\ir _fixture.psql
begin;
select plan(30);

create function pg_temp.hint_of(q text) returns text language plpgsql as $$
declare h text;
begin
    execute q;
    return '(no error)';
exception when others then
    get stacked diagnostics h = pg_exception_hint;
    return h;
end $$;

select throws_ok($$select strata.check_access(null, 'project', 1, 'read')$$, '22023', 'user_id must not be NULL', 'check_access: NULL user');
select throws_ok($$select strata.check_access(1, null, 1, 'read')$$, '22023', 'resource_type must not be NULL', 'check_access: NULL type');
select throws_ok($$select strata.check_access(1, 'folder', 1, 'read')$$, '22023', 'unknown resource type "folder"', 'check_access: unknown type');
select throws_ok($$select strata.check_access(1, 'project', null, 'read')$$, '22023', 'resource_id must not be NULL', 'check_access: NULL resource');
select throws_ok($$select strata.check_access(1, 'project', 1, null)$$, '22023', 'action must not be NULL', 'check_access: NULL action');
select throws_ok($$select strata.check_access(1, 'project', 1, 'frobnicate')$$, '22023', 'unknown action "frobnicate"', 'check_access: unknown action');
select throws_ok($$select strata.check_access(1, 'project', 1, 'READ')$$, '22023', 'unknown action "READ"', 'check_access: actions are lower case');
select is(pg_temp.hint_of($$select strata.check_access(1, 'project', 1, 'frobnicate')$$),
          'allowed actions: read, create, write, delete, share, admin', 'unknown action: the hint lists the actions');
select is(pg_temp.hint_of($$select strata.check_access(1, 'folder', 1, 'read')$$),
          'allowed resource types: team, project, generation', 'unknown type: the hint lists the types');
select is(strata.check_access(424242, 'project', 103, 'read'), false, 'unknown user: false, not an error');
select is(strata.check_access(1, 'project', 424242, 'read'), false, 'unknown resource: false, not an error');

select throws_ok($$select * from strata.allowed_actions(null, 'team', 1)$$, '22023', 'user_id must not be NULL', 'allowed_actions: NULL user');
select throws_ok($$select * from strata.allowed_actions(1, 'team', null)$$, '22023', 'resource_id must not be NULL', 'allowed_actions: NULL resource');
select throws_ok($$select * from strata.allowed_actions(1, 'teams', 1)$$, '22023', 'unknown resource type "teams"', 'allowed_actions: unknown type');

select throws_ok($$select * from strata.user_authorization_context(null)$$, '22023', 'user_id must not be NULL', 'context: NULL user');
select throws_ok($$select * from strata.user_authorization_context(1, p_page_size => 0)$$, '22023', 'page_size must be between 1 and 10000, got 0', 'context: page size');
select throws_ok($$select * from strata.user_authorization_context(1, 'project', null)$$, '22023', null, 'context: after_type without after_id');
select throws_ok($$select * from strata.user_authorization_context(1, 'folder', 1)$$, '22023', 'unknown resource type "folder"', 'context: unknown after_type');
select throws_ok($$select * from strata.user_authorization_context(1, p_include_public => null)$$, '22023', 'include_public must not be NULL', 'context: NULL include_public');

select throws_ok($$select * from strata.team_collaboration(null)$$, '22023', 'team_id must not be NULL', 'team_collaboration: NULL team');
select is((select count(*) from strata.team_collaboration(424242)), 0::bigint, 'team_collaboration: unknown team: no row');
select throws_ok($$select * from strata.generation_stats(null, 1)$$, '22023', 'user_id must not be NULL', 'generation_stats: NULL user');
select throws_ok($$select * from strata.generation_stats(1, null)$$, '22023', 'project_id must not be NULL', 'generation_stats: NULL project');

select throws_ok($$select strata.record_performance('i', 'l4', 1, 1, 0)$$, '22023', 'unknown layer ''l4''', 'record_performance: unknown layer');
select is(pg_temp.hint_of($$select strata.record_performance('i', 'l4', 1, 1, 0)$$), 'allowed layers: l1, l2, l3, worker', 'unknown layer: hint');
select throws_ok($$select strata.record_performance(null, 'l1', 1, 1, 0)$$, '22023', null, 'record_performance: NULL instance');
select throws_ok($$select strata.record_performance('i', 'l1', -1, 1, 0)$$, '22023', null, 'record_performance: negative count');
select throws_ok($$select strata.record_performance('i', 'l1', 1, 1, 0, p_bucket => '2 hours')$$, '22023', null, 'record_performance: bucket too wide');
select throws_ok($$select * from strata.prune_performance('-1 hour')$$, '22023', null, 'prune_performance: negative keep');
select throws_ok($$select * from strata.prune_performance('2 days', '1 day')$$, '22023', null, 'prune_performance: rollups kept shorter than buckets');

select * from finish();
rollback;

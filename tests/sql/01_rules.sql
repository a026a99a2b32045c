-- The access rules, answered from the base tables (entities dirty) and from the view
-- (after a refresh): every (user, resource) in the fixture, every action.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
-- the fixture is committed (a refresh clears only marks of committed transactions)
\ir _fixture.psql
begin;

create temp table expect (u bigint, t text, id bigint, actions text[], reasons text[]) on commit drop;
insert into expect values
    -- the team itself, by role; a grant on the team
    (1, 'team', 10, '{read,write,delete,admin}', '{team_role}'),
    (2, 'team', 10, '{read,write,admin}', '{team_role}'),
    (3, 'team', 10, '{read}', '{team_role}'),
    (4, 'team', 10, '{read}', '{team_role}'),
    (5, 'team', 10, '{read}', '{team_role}'),
    (8, 'team', 10, '{read}', '{grant}'),
    (9, 'team', 10, '{}', '{}'),
    (9, 'team', 20, '{read}', '{team_role}'),
    -- user-owned private project: owner only
    (6, 'project', 101, '{read,create,write,delete,share,admin}', '{owner}'),
    (1, 'project', 101, '{}', '{}'),
    (8, 'project', 101, '{}', '{}'),
    -- team-owned private project: team owners and admins, and grants
    (1, 'project', 102, '{read,create,write,delete,share,admin}', '{team_role}'),
    (2, 'project', 102, '{read,create,write,delete,share}', '{team_role}'),
    (3, 'project', 102, '{}', '{}'),
    (4, 'project', 102, '{}', '{}'),
    (5, 'project', 102, '{}', '{}'),
    (7, 'project', 102, '{write}', '{grant}'),
    (8, 'project', 102, '{}', '{}'),
    -- team-visible project: every role
    (1, 'project', 103, '{read,create,write,delete,share,admin}', '{team_role}'),
    (2, 'project', 103, '{read,create,write,delete,share}', '{team_role}'),
    (3, 'project', 103, '{read,create,write}', '{team_role}'),
    (4, 'project', 103, '{read,create}', '{team_role}'),
    (5, 'project', 103, '{read}', '{team_role}'),
    (6, 'project', 103, '{}', '{}'),
    (8, 'project', 103, '{}', '{}'),
    (9, 'project', 103, '{}', '{}'),
    -- public team project: roles plus everybody reads
    (3, 'project', 104, '{read,create,write}', '{team_role,public}'),
    (5, 'project', 104, '{read}', '{team_role,public}'),
    (8, 'project', 104, '{read}', '{public}'),
    (0, 'project', 104, '{read}', '{public}'),
    -- public user-owned project
    (6, 'project', 105, '{read,create,write,delete,share,admin}', '{owner,public}'),
    (8, 'project', 105, '{read}', '{public}'),
    (9, 'project', 106, '{read}', '{team_role}'),
    (1, 'project', 106, '{}', '{}'),
    (1, 'project', 999, '{}', '{}'),
    -- generations: the creator owns it; others get the project's actions; grants
    (3, 'generation', 1001, '{read,create,write,delete,share,admin}', '{owner}'),
    (4, 'generation', 1001, '{read,create}', '{project}'),
    (5, 'generation', 1001, '{read}', '{project}'),
    (8, 'generation', 1001, '{}', '{}'),
    (6, 'generation', 1003, '{read,create,write,delete,share,admin}', '{owner}'),
    (7, 'generation', 1003, '{read}', '{grant}'),
    (8, 'generation', 1003, '{}', '{}'),
    (7, 'generation', 1004, '{write}', '{project}'),
    (5, 'generation', 1004, '{}', '{}'),
    (2, 'generation', 1004, '{read,create,write,delete,share}', '{project}'),
    (8, 'generation', 9999, '{}', '{}');

select plan((select 2 * (count(*) * 7 + 1)::int from expect) + 5);

-- Phase 1: the fixture was just written, every entity is dirty: answers come from the base tables.
select ok((select count(*) from strata.dirty_marks where mark like 'uac:%') > 0, 'fixture left uac dirty marks');
select is(a.actions::text || ' because ' || a.reasons::text, e.actions::text || ' because ' || e.reasons::text,
          format('live: user %s on %s %s: %s because %s', e.u, e.t, e.id, e.actions, e.reasons))
  from expect e cross join lateral strata.allowed_actions(e.u, e.t, e.id) a;
select is(strata.check_access(e.u, e.t, e.id, x::text), x::text = any (e.actions),
          format('live: check_access(%s, %s, %s, %s)', e.u, e.t, e.id, x))
  from expect e cross join unnest(enum_range(null::authz.action)) x;
select is((select count(*) from expect e cross join lateral strata.allowed_actions(e.u, e.t, e.id) a
            where a.answered_from <> 'live'), 0::bigint, 'live: every answer came from the base tables');

-- Phase 2: after a refresh (same transaction, so its marks are covered) answers come from the view.
select is((select outcome from strata.refresh_view('mv_user_authorization_context')), 'ok', 'refresh ok');
select is((select count(*) from strata.dirty_marks where mark like 'uac:%'), 0::bigint, 'refresh cleared the uac marks');
select is(a.actions::text || ' because ' || a.reasons::text, e.actions::text || ' because ' || e.reasons::text,
          format('view: user %s on %s %s: %s because %s', e.u, e.t, e.id, e.actions, e.reasons))
  from expect e cross join lateral strata.allowed_actions(e.u, e.t, e.id) a;
select is(strata.check_access(e.u, e.t, e.id, x::text), x::text = any (e.actions),
          format('view: check_access(%s, %s, %s, %s)', e.u, e.t, e.id, x))
  from expect e cross join unnest(enum_range(null::authz.action)) x;
select is((select count(*) from expect e cross join lateral strata.allowed_actions(e.u, e.t, e.id) a
            where a.answered_from <> 'view'
              and not (e.t = 'generation' and (e.id = 9999 or a.reasons = '{owner}'))), 0::bigint,
          'view: every answer (but a generation''s owner / a missing generation, read live by rule) came from the view');
select results_eq(
    $$select user_id, resource_type::text, resource_id, actions::text[], reasons::text[]
        from strata.mv_user_authorization_context order by 1, 2, 3$$,
    $$select user_id, resource_type::text, resource_id, actions::text[], reasons::text[]
        from strata_private.authorization_live order by 1, 2, 3$$,
    'the view holds exactly what the live rules compute');
select ok(not exists (select 1 from unnest(enum_range(null::authz.team_role)) r
                       where authz.role_actions('project', r) is null or authz.role_actions('team', r) is null),
          'role_actions maps every role in both scopes');

select * from finish();
rollback;

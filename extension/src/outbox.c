/*
 * outbox.c
 *		Writing the outbox (strata.change_log) and the dirty marks
 *		(strata.dirty_marks), and strata.invalidate().
 *
 * Rows are inserted directly: the tuple is formed here and handed to
 * heap_insert() and index_insert() (see DirectInsert: while the table and its
 * indexes are as the extension made them), or to the table AM and the
 * executor's ExecInsertIndexTuples() (unique checks, partial and expression
 * indexes as for any INSERT) with NOT NULL / CHECK constraints checked by
 * ExecConstraints().  No query is planned or started: that was most of the
 * capture trigger's own cost when it went through SPI.
 *
 * The direct path is taken only while the table looks exactly as the
 * extension created it: a plain table whose live columns are the known ones
 * (by name and type, none generated or identity), with no INSERT triggers
 * (including the internal ones of foreign keys and deferrable constraints)
 * and no rules.  Otherwise the row goes through a prepared SPI INSERT, as
 * before, so nothing attached to the table is ever silently bypassed (that
 * path is also taken when the dirty marks table has such additions).
 *
 * Either way the rows are written as the owner of strata.change_log (the
 * extension's owner) in a security-restricted context: a user who may change
 * a watched table but has no privileges on the outbox still records the
 * change, and index expressions or CHECK constraints run as the owner.  The
 * direct path checks no privileges (as catalog updates do not), draws seq
 * with nextval_internal() without a privilege check, and refuses to write in
 * a read-only transaction or in parallel mode, as an INSERT would.
 *
 * The transaction id is assigned before seq is drawn: a transaction holding
 * a seq is then visible, aborted, or in progress in every snapshot taken
 * after the draw.
 */
#include "strata.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

PG_FUNCTION_INFO_V1(strata_invalidate);

static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_insert_returning = NULL;
static SPIPlanPtr plan_marks = NULL;

/* Resolved once per backend, reset by a relcache invalidation of any. */
static Oid	cached_outbox_relid = InvalidOid;
static Oid	cached_owner = InvalidOid;
static Oid	cached_seq_relid = InvalidOid;
static Oid	cached_marks_relid = InvalidOid;

/* The columns the direct path writes, by table. */
enum
{
	CL_SEQ, CL_XID, CL_CREATED_AT, CL_SOURCE, CL_OP, CL_KEYS, CL_PREFIXES, CL_MARKS,
	CL_NCOLS
};
enum
{
	DM_MARK, DM_SEQ, DM_XID, DM_CREATED_AT,
	DM_NCOLS
};

typedef struct KnownColumn
{
	const char *name;
	Oid			type;
} KnownColumn;

static const KnownColumn change_log_columns[CL_NCOLS] = {
	{"seq", INT8OID}, {"xid", XID8OID}, {"created_at", TIMESTAMPTZOID},
	{"source", TEXTOID}, {"op", CHAROID}, {"keys", TEXTARRAYOID},
	{"prefixes", TEXTARRAYOID}, {"marks", TEXTARRAYOID}
};
static const KnownColumn dirty_marks_columns[DM_NCOLS] = {
	{"mark", TEXTOID}, {"seq", INT8OID}, {"xid", XID8OID},
	{"created_at", TIMESTAMPTZOID}
};

/*
 * Whether a table's columns are the known ones, and where they are (index
 * into the tuple descriptor).  Rebuilt after a relcache invalidation.
 */
typedef struct ColumnMap
{
	Oid			relid;			/* InvalidOid: not computed */
	bool		columns_ok;
	int			index[CL_NCOLS];	/* large enough for both tables */
} ColumnMap;

static ColumnMap change_log_map;	/* zeroed: relid InvalidOid */
static ColumnMap dirty_marks_map;

/*
 * Whether a table takes lean inserts (see DirectInsert) and, if so, the
 * indexes to open for them, so that they are not listed and checked again
 * for every outbox write (they are still opened and locked every time).
 * What decides it is the table's access method, CHECK constraints and index
 * list, each changed with a relcache invalidation of the table, and what
 * each index is (access method, key columns, no expression or predicate),
 * fixed while the index exists.  A relcache invalidation of the table or of
 * a listed index resets it, as it resets the relcache's own index list.
 */
typedef struct LeanIndexes
{
	Oid			relid;			/* InvalidOid: not computed */
	bool		lean;
	int			nindexes;
	Oid		   *indexes;		/* in TopMemoryContext, reused */
	int			maxindexes;
} LeanIndexes;

static LeanIndexes change_log_lean;
static LeanIndexes dirty_marks_lean;

/* Relcache invalidations seen, to tell whether one arrived meanwhile. */
static uint64 outbox_invals = 0;

static void
lean_indexes_invalidate(LeanIndexes *li, Oid relid)
{
	int			i;

	if (!OidIsValid(li->relid))
		return;
	if (relid == InvalidOid || relid == li->relid)
	{
		li->relid = InvalidOid;
		return;
	}
	for (i = 0; i < li->nindexes; i++)
		if (li->indexes[i] == relid)
		{
			li->relid = InvalidOid;
			return;
		}
}

void
strata_outbox_relcache_callback(Oid relid)
{
	outbox_invals++;
	lean_indexes_invalidate(&change_log_lean, relid);
	lean_indexes_invalidate(&dirty_marks_lean, relid);
	if (relid == InvalidOid || relid == cached_outbox_relid ||
		relid == cached_seq_relid || relid == cached_marks_relid)
	{
		cached_outbox_relid = InvalidOid;
		cached_owner = InvalidOid;
		cached_seq_relid = InvalidOid;
		cached_marks_relid = InvalidOid;
	}
	if (relid == InvalidOid || relid == change_log_map.relid)
		change_log_map.relid = InvalidOid;
	if (relid == InvalidOid || relid == dirty_marks_map.relid)
		dirty_marks_map.relid = InvalidOid;
}

Oid
strata_namespace(bool missing_ok)
{
	return get_namespace_oid(STRATA_SCHEMA, missing_ok);
}

static Oid
strata_relid(Oid nsp, const char *name, char relkind)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid) || get_rel_relkind(relid) != relkind)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the strata %s strata.%s does not exist",
						relkind == RELKIND_SEQUENCE ? "sequence" : "table", name),
				 errhint("Run CREATE EXTENSION strata in this database.")));
	return relid;
}

/* Resolves strata.change_log, its owner, its sequence and strata.dirty_marks. */
static void
resolve_outbox(void)
{
	Oid			nsp;
	Oid			relid;
	Oid			seq;
	Oid			marks;
	HeapTuple	tup;
	Oid			owner;

	if (OidIsValid(cached_outbox_relid))
		return;
	nsp = strata_namespace(true);
	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the strata outbox table strata.change_log does not exist"),
				 errhint("Run CREATE EXTENSION strata in this database.")));
	relid = get_relname_relid("change_log", nsp);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the strata outbox table strata.change_log does not exist"),
				 errhint("Run CREATE EXTENSION strata in this database.")));
	seq = strata_relid(nsp, "change_log_seq", RELKIND_SEQUENCE);
	marks = strata_relid(nsp, "dirty_marks", RELKIND_RELATION);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	/* a relcache invalidation may have arrived meanwhile: set all at once */
	cached_owner = owner;
	cached_seq_relid = seq;
	cached_marks_relid = marks;
	cached_outbox_relid = relid;
}

/* The owner of strata.change_log: the role the outbox is written as. */
Oid
strata_owner(void)
{
	resolve_outbox();
	return cached_owner;
}

void
strata_switch_to_owner(Oid *save_userid, int *save_sec_context)
{
	Oid			owner = strata_owner();

	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner, *save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION |
						   SECURITY_NOFORCE_RLS);
}

void
strata_restore_user(Oid save_userid, int save_sec_context)
{
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

static Datum
list_to_text_array(List *l)
{
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0;

	if (l == NIL)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	elems = palloc(sizeof(Datum) * list_length(l));
	foreach(lc, l)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/* ---- the direct path ---- */

/*
 * Checks that rel's live columns are exactly the known ones (name and type,
 * none generated or identity) and records where they are.
 */
static void
map_columns(Relation rel, const KnownColumn *known, int nknown, ColumnMap *map)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		ok = true;
	int			i,
				k;

	for (k = 0; k < nknown; k++)
		map->index[k] = -1;
	for (i = 0; i < desc->natts && ok; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		ok = false;
		for (k = 0; k < nknown; k++)
		{
			if (strcmp(NameStr(att->attname), known[k].name) == 0)
			{
				ok = (att->atttypid == known[k].type && map->index[k] < 0 &&
					  att->attgenerated == '\0' && att->attidentity == '\0');
				map->index[k] = i;
				break;
			}
		}
	}
	for (k = 0; k < nknown && ok; k++)
		ok = map->index[k] >= 0;
	map->columns_ok = ok;
	map->relid = RelationGetRelid(rel);
}

/*
 * Whether rows may be inserted into rel without the executor: nothing that
 * an INSERT statement would run besides the heap insert, the index entries
 * and the constraints (which the direct path handles) is attached to it.
 */
static bool
direct_insert_ok(Relation rel, const KnownColumn *known, int nknown, ColumnMap *map)
{
	TriggerDesc *trig = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasrules)
		return false;
	if (trig != NULL &&
		(trig->trig_insert_before_row || trig->trig_insert_after_row ||
		 trig->trig_insert_instead_row || trig->trig_insert_before_statement ||
		 trig->trig_insert_after_statement || trig->trig_insert_new_table))
		return false;
	if (map->relid != RelationGetRelid(rel))
		map_columns(rel, known, nknown, map);
	return map->columns_ok;
}

/*
 * An open table with its indexes, ready for direct inserts.
 *
 * Two ways to insert a row, chosen when the table is opened:
 *	- lean: a heap table with no CHECK constraint whose indexes are all plain
 *	  btrees (key columns only: no expression, no predicate, no exclusion
 *	  constraint, unique ones checked immediately), as the extension creates
 *	  the outbox and the marks table.  The row goes straight to heap_insert()
 *	  and index_insert(), with the index values taken from the row itself:
 *	  no executor state, result relation or slot is built for it.
 *	- executor: everything else the direct path accepts (expression or
 *	  partial indexes, CHECK constraints, other access methods): the table
 *	  goes through ExecConstraints() and ExecInsertIndexTuples().
 * A lean table falls back to the executor for a row with a NULL in a NOT
 * NULL column, so that the error is the one an INSERT reports.
 */
typedef struct DirectInsert
{
	Relation	rel;
	CommandId	cid;
	ColumnMap	map;			/* a copy: invalidations may reset the cache */
	/* lean: the open indexes (NULL when the table is not lean) */
	int			nindexes;
	Relation   *indexes;
	/* executor: built on first use */
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
} DirectInsert;

/* A btree on key columns only, unique checks immediate: lean inserts can feed it. */
static bool
plain_btree(Relation index)
{
	Form_pg_index ind = index->rd_index;
	int			i;

	if (index->rd_rel->relam != BTREE_AM_OID || ind->indisexclusion ||
		(ind->indisunique && !ind->indimmediate))
		return false;
	if (!heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, NULL) ||
		!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		return false;
	for (i = 0; i < ind->indnatts; i++)
		if (ind->indkey.values[i] <= 0)
			return false;
	return true;
}

/*
 * Decides whether the table is lean: opens its indexes and checks them.
 * Leaves them open in di when it is.
 */
static bool
lean_check(DirectInsert *di)
{
	TupleConstr *constr = RelationGetDescr(di->rel)->constr;
	List	   *oids;
	ListCell   *lc;
	int			n = 0;

	if (di->rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		(constr != NULL && constr->num_check > 0))
		return false;
	oids = RelationGetIndexList(di->rel);
	di->indexes = palloc(sizeof(Relation) * Max(list_length(oids), 1));
	foreach(lc, oids)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);

		di->indexes[n++] = index;
		if (!plain_btree(index))
		{
			while (n > 0)
				index_close(di->indexes[--n], NoLock);
			pfree(di->indexes);
			di->indexes = NULL;
			return false;
		}
	}
	di->nindexes = n;
	return true;
}

/*
 * Opens the indexes for lean inserts; false (nothing left open) if the table
 * is not lean.  The decision and the index list are kept in *li, unless an
 * invalidation arrived while they were made.
 */
static bool
lean_begin(DirectInsert *di, LeanIndexes *li)
{
	Oid			relid = RelationGetRelid(di->rel);
	uint64		invals = outbox_invals;
	int			i;

	if (li->relid == relid)
	{
		if (!li->lean)
			return false;
		/* as current as RelationGetIndexList(): the same invalidations reset both */
		di->indexes = palloc(sizeof(Relation) * Max(li->nindexes, 1));
		di->nindexes = li->nindexes;
		for (i = 0; i < di->nindexes; i++)
			di->indexes[i] = index_open(li->indexes[i], RowExclusiveLock);
		return true;
	}

	li->relid = InvalidOid;
	li->lean = lean_check(di);
	li->nindexes = 0;
	if (li->lean)
	{
		if (li->maxindexes < di->nindexes)
		{
			if (li->indexes != NULL)
				pfree(li->indexes);
			li->indexes = MemoryContextAlloc(TopMemoryContext,
											 sizeof(Oid) * di->nindexes);
			li->maxindexes = di->nindexes;
		}
		for (i = 0; i < di->nindexes; i++)
			li->indexes[i] = RelationGetRelid(di->indexes[i]);
		li->nindexes = di->nindexes;
	}
	if (outbox_invals == invals)
		li->relid = relid;
	return li->lean;
}

static void
executor_begin(DirectInsert *di)
{
	di->estate = CreateExecutorState();
	di->rri = makeNode(ResultRelInfo);
	/* range table index 0: no permission info (none is checked) */
	InitResultRelInfo(di->rri, di->rel, 0, NULL, 0);
	ExecOpenIndices(di->rri, false);
	di->slot = MakeSingleTupleTableSlot(RelationGetDescr(di->rel), &TTSOpsHeapTuple);
}

/*
 * Opens relid for direct inserts; returns false (and leaves it closed) when
 * the table needs a real INSERT statement.
 */
static bool
direct_begin(DirectInsert *di, Oid relid, const KnownColumn *known, int nknown,
			 ColumnMap *map, LeanIndexes *li)
{
	/* what the executor checks before an INSERT (ExecCheckXactReadOnly) */
	if (XactReadOnly)
		PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");

	memset(di, 0, sizeof(*di));
	di->rel = table_open(relid, RowExclusiveLock);
	if (!direct_insert_ok(di->rel, known, nknown, map))
	{
		table_close(di->rel, NoLock);
		return false;
	}
	di->map = *map;
	di->cid = GetCurrentCommandId(true);
	if (!lean_begin(di, li))
		executor_begin(di);
	return true;
}

/* A NULL where the table says NOT NULL: the executor reports it. */
static bool
violates_not_null(Relation rel, bool *nulls)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (desc->constr == NULL || !desc->constr->has_not_null)
		return false;
	for (i = 0; i < desc->natts; i++)
		if (nulls[i] && TupleDescAttr(desc, i)->attnotnull)
			return true;
	return false;
}

static void
lean_insert(DirectInsert *di, Datum *values, bool *nulls)
{
	HeapTuple	tuple = heap_form_tuple(RelationGetDescr(di->rel), values, nulls);
	int			i;

	heap_insert(di->rel, tuple, di->cid, 0, NULL);
	for (i = 0; i < di->nindexes; i++)
	{
		Relation	index = di->indexes[i];
		Form_pg_index ind = index->rd_index;
		Datum		ivalues[INDEX_MAX_KEYS];
		bool		inulls[INDEX_MAX_KEYS];
		int			k;

		if (!ind->indisready)
			continue;			/* being built concurrently: not yet */
		for (k = 0; k < ind->indnatts; k++)
		{
			AttrNumber	att = ind->indkey.values[k];

			ivalues[k] = values[att - 1];
			inulls[k] = nulls[att - 1];
		}
		index_insert(index, ivalues, inulls, &tuple->t_self, di->rel,
					 ind->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 false,
					 makeIndexInfo(ind->indnatts, ind->indnkeyatts, BTREE_AM_OID,
								   NIL, NIL, ind->indisunique,
								   ind->indnullsnotdistinct, true, false));
	}
	heap_freetuple(tuple);
}

static void
direct_insert(DirectInsert *di, Datum *values, bool *nulls)
{
	HeapTuple	tuple;

	if (di->indexes != NULL && !violates_not_null(di->rel, nulls))
	{
		lean_insert(di, values, nulls);
		return;
	}
	if (di->estate == NULL)
		executor_begin(di);
	tuple = heap_form_tuple(RelationGetDescr(di->rel), values, nulls);
	ExecStoreHeapTuple(tuple, di->slot, true);
	if (di->rel->rd_att->constr)
		ExecConstraints(di->rri, di->slot, di->estate);
	table_tuple_insert(di->rel, di->slot, di->cid, 0, NULL);
	if (di->rri->ri_NumIndices > 0)
	{
		List	   *recheck = ExecInsertIndexTuples(di->rri, di->slot, di->estate,
													false, false, NULL, NIL);

		/* deferred unique checks come with an INSERT trigger: not here */
		if (recheck != NIL)
			elog(ERROR, "unexpected deferred constraint on %s",
				 RelationGetRelationName(di->rel));
	}
	ExecClearTuple(di->slot);
	ResetPerTupleExprContext(di->estate);
}

static void
direct_end(DirectInsert *di)
{
	int			i;

	/* the locks are kept until the end of the transaction */
	for (i = 0; i < di->nindexes; i++)
		index_close(di->indexes[i], NoLock);
	if (di->estate != NULL)
	{
		ExecDropSingleTupleTableSlot(di->slot);
		ExecCloseIndices(di->rri);
		FreeExecutorState(di->estate);
	}
	table_close(di->rel, NoLock);
}

/* ---- the SPI path, for tables with triggers, rules or other columns ---- */

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * INSERT INTO strata.change_log through SPI; seq comes from the column
 * default.  values: xid, source, op, keys, prefixes, marks.  Returns seq when
 * asked for (RETURNING), else 0.
 */
static int64
spi_insert_outbox(Datum *values, char *nulls, bool returning)
{
	int64		seq = 0;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan_insert == NULL)
	{
		Oid			argtypes[6] = {XID8OID, TEXTOID, CHAROID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};

		plan_insert_returning = prepare_kept(
			"INSERT INTO strata.change_log (xid, source, op, keys, prefixes, marks) "
			"VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq", 6, argtypes);
		plan_insert = prepare_kept(
			"INSERT INTO strata.change_log (xid, source, op, keys, prefixes, marks) "
			"VALUES ($1, $2, $3, $4, $5, $6)", 6, argtypes);
	}
	rc = SPI_execute_plan(returning ? plan_insert_returning : plan_insert,
						  values, nulls, false, 0);
	if (rc != (returning ? SPI_OK_INSERT_RETURNING : SPI_OK_INSERT))
		elog(ERROR, "could not write the strata outbox: %s", SPI_result_code_string(rc));
	if (returning)
	{
		bool		isnull = true;

		if (SPI_processed == 1)
			seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
			elog(ERROR, "could not write the strata outbox: no seq returned");
	}
	SPI_finish();
	return seq;
}

static void
spi_insert_marks(Datum marks, int64 seq, Datum xid)
{
	Datum		values[3];
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan_marks == NULL)
	{
		Oid			argtypes[3] = {TEXTARRAYOID, INT8OID, XID8OID};

		plan_marks = prepare_kept(
			"INSERT INTO strata.dirty_marks (mark, seq, xid) "
			"SELECT m.m, $2, $3 FROM pg_catalog.unnest($1) AS m(m)", 3, argtypes);
	}
	values[0] = marks;
	values[1] = Int64GetDatum(seq);
	values[2] = xid;
	rc = SPI_execute_plan(plan_marks, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not write strata.dirty_marks: %s", SPI_result_code_string(rc));
	SPI_finish();
}

/* ---- writing ---- */

static int64
write_outbox_row(Oid relid, Oid seq_relid, Datum xid, const char *source, char op, Datum keys,
				 Datum prefixes, Datum marks, bool want_seq)
{
	DirectInsert di;
	Datum	   *values;
	bool	   *nulls;
	int			natts;
	int64		seq;

	if (!direct_begin(&di, relid, change_log_columns, CL_NCOLS,
					  &change_log_map, &change_log_lean))
	{
		Datum		spi_values[6];
		char		spi_nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		spi_values[0] = xid;
		spi_values[1] = source ? CStringGetTextDatum(source) : (Datum) 0;
		spi_nulls[1] = source ? ' ' : 'n';
		spi_values[2] = CharGetDatum(op);
		spi_values[3] = keys;
		spi_values[4] = prefixes;
		spi_values[5] = marks;
		return spi_insert_outbox(spi_values, spi_nulls, want_seq);
	}

	/* after the xid (the caller assigned it): see the header comment */
	seq = nextval_internal(seq_relid, false);

	natts = RelationGetDescr(di.rel)->natts;
	values = palloc0(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);
	memset(nulls, true, sizeof(bool) * natts);
#define SET_COL(c, v) (values[di.map.index[c]] = (v), nulls[di.map.index[c]] = false)
	SET_COL(CL_SEQ, Int64GetDatum(seq));
	SET_COL(CL_XID, xid);
	SET_COL(CL_CREATED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	if (source)
		SET_COL(CL_SOURCE, CStringGetTextDatum(source));
	SET_COL(CL_OP, CharGetDatum(op));
	SET_COL(CL_KEYS, keys);
	SET_COL(CL_PREFIXES, prefixes);
	SET_COL(CL_MARKS, marks);
#undef SET_COL
	direct_insert(&di, values, nulls);
	direct_end(&di);
	return seq;
}

static void
write_marks(Oid relid, List *marks, Datum marks_array, int64 seq, Datum xid)
{
	DirectInsert di;
	Datum	   *values;
	bool	   *nulls;
	int			natts;
	ListCell   *lc;

	if (!direct_begin(&di, relid, dirty_marks_columns, DM_NCOLS,
					  &dirty_marks_map, &dirty_marks_lean))
	{
		spi_insert_marks(marks_array, seq, xid);
		return;
	}
	natts = RelationGetDescr(di.rel)->natts;
	values = palloc0(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);
	memset(nulls, true, sizeof(bool) * natts);
#define SET_COL(c, v) (values[di.map.index[c]] = (v), nulls[di.map.index[c]] = false)
	SET_COL(DM_SEQ, Int64GetDatum(seq));
	SET_COL(DM_XID, xid);
	SET_COL(DM_CREATED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	foreach(lc, marks)
	{
		SET_COL(DM_MARK, CStringGetTextDatum((char *) lfirst(lc)));
		direct_insert(&di, values, nulls);
	}
#undef SET_COL
	direct_end(&di);
}

/*
 * Inserts one outbox row (and its marks into strata.dirty_marks) in the
 * current transaction.  Returns the row's seq (always on the direct path;
 * through INSERT only when want_seq or marks are given, else 0).
 */
int64
strata_outbox_write(const char *source, char op, List *keys,
					List *prefixes, List *marks, bool want_seq)
{
	Datum		xid;
	Datum		marks_array;
	Oid			save_userid;
	int			save_sec_context;
	int64		seq;
	Oid			relid;
	Oid			seq_relid;
	Oid			marks_relid;

	strata_note_outbox_write();

	/* the xid first: seq is drawn after it */
	xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	marks_array = list_to_text_array(marks);

	/* copies: opening a table may process invalidations that reset the cache */
	resolve_outbox();
	relid = cached_outbox_relid;
	seq_relid = cached_seq_relid;
	marks_relid = cached_marks_relid;
	strata_switch_to_owner(&save_userid, &save_sec_context);
	seq = write_outbox_row(relid, seq_relid, xid, source, op, list_to_text_array(keys),
						   list_to_text_array(prefixes), marks_array,
						   want_seq || marks != NIL);
	if (marks != NIL)
		write_marks(marks_relid, marks, marks_array, seq, xid);
	strata_restore_user(save_userid, save_sec_context);
	return seq;
}

/* A long key shortened for an error message. */
static char *
clip_for_message(const char *key)
{
	int			len = strlen(key);

	if (len <= 80)
		return (char *) key;
	return psprintf("%s...", pnstrdup(key, pg_mbcliplen(key, len, 64)));
}

/*
 * strata.invalidate(keys text[]) returns bigint
 *
 * Writes one outbox row (op 'M', no source) with the given keys; entries
 * ending in ":*" (or a lone "*") are prefixes.  Returns its seq, or NULL when
 * the array is empty.
 */
Datum
strata_invalidate(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	int			i;
	List	   *keys = NIL;
	List	   *prefixes = NIL;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("keys must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elnulls, &n);

	for (i = 0; i < n; i++)
	{
		char	   *key;
		bool		is_prefix;
		char	   *error;

		if (elnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("keys may not contain NULL")));
		key = TextDatumGetCString(elems[i]);
		if (!strata_check_key(key, &is_prefix, &error))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid key \"%s\"", clip_for_message(key)),
					 errdetail("%s.", error),
					 errhint("Build keys with strata.render() or strata.escape_segment(); end a prefix with \":*\".")));
		if (is_prefix)
		{
			if (!list_member(prefixes, makeString(key)))
				prefixes = lappend(prefixes, makeString(key));
		}
		else if (!list_member(keys, makeString(key)))
			keys = lappend(keys, makeString(key));
	}

	if (keys == NIL && prefixes == NIL)
		PG_RETURN_NULL();

	/* lists of String nodes -> lists of C strings */
	{
		List	   *k = NIL,
				   *p = NIL;
		ListCell   *lc;

		foreach(lc, keys)
			k = lappend(k, strVal(lfirst(lc)));
		foreach(lc, prefixes)
			p = lappend(p, strVal(lfirst(lc)));
		PG_RETURN_INT64(strata_outbox_write(NULL, 'M', k, p, NIL, true));
	}
}

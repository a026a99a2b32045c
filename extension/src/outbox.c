/*
 * outbox.c
 *		Writing the outbox (strata.change_log) and the dirty marks
 *		(strata.dirty_marks), and strata.invalidate().
 *
 * Rows are inserted through prepared, kept SPI plans, as the owner of
 * strata.change_log (the extension's owner), so that a user who may change a
 * watched table but has no privileges on the outbox still records the change.
 * Every name in the plans is schema-qualified and parameter types are given
 * by OID, so that the caller's search_path cannot redirect them.
 *
 * The transaction id is assigned before seq is drawn (seq comes from the
 * column default while the INSERT runs): a transaction holding a seq is then
 * visible, aborted, or in progress in every snapshot taken after the draw.
 */
#include "strata.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/xid8.h"
#include "catalog/pg_class.h"
#include "access/htup_details.h"

PG_FUNCTION_INFO_V1(strata_invalidate);

static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_insert_returning = NULL;
static SPIPlanPtr plan_marks = NULL;

static Oid	cached_outbox_relid = InvalidOid;
static Oid	cached_owner = InvalidOid;

void
strata_outbox_relcache_callback(Oid relid)
{
	if (relid == InvalidOid || relid == cached_outbox_relid)
	{
		cached_outbox_relid = InvalidOid;
		cached_owner = InvalidOid;
	}
}

Oid
strata_namespace(bool missing_ok)
{
	return get_namespace_oid(STRATA_SCHEMA, missing_ok);
}

/* The owner of strata.change_log: the role the outbox is written as. */
Oid
strata_owner(void)
{
	if (!OidIsValid(cached_owner))
	{
		Oid			nsp = strata_namespace(true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid("change_log", nsp) : InvalidOid;
		HeapTuple	tup;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the strata outbox table strata.change_log does not exist"),
					 errhint("Run CREATE EXTENSION strata in this database.")));
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for relation %u", relid);
		cached_owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
		cached_outbox_relid = relid;
	}
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
 * Inserts one outbox row (and its marks into strata.dirty_marks) in the
 * current transaction.  Returns the row's seq when want_seq or marks are
 * given, else 0.
 */
int64
strata_outbox_write(const char *source, char op, List *keys,
					List *prefixes, List *marks, bool want_seq)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	FullTransactionId fxid;
	Oid			save_userid;
	int			save_sec_context;
	bool		returning = want_seq || marks != NIL;
	int64		seq = 0;
	int			rc;

	strata_note_outbox_write();

	/* the xid first: seq is drawn by the INSERT below */
	fxid = GetTopFullTransactionId();

	values[0] = FullTransactionIdGetDatum(fxid);
	if (source)
		values[1] = CStringGetTextDatum(source);
	else
	{
		values[1] = (Datum) 0;
		nulls[1] = 'n';
	}
	values[2] = CharGetDatum(op);
	values[3] = list_to_text_array(keys);
	values[4] = list_to_text_array(prefixes);
	values[5] = list_to_text_array(marks);

	strata_switch_to_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (plan_insert == NULL)
	{
		Oid			argtypes[6] = {XID8OID, TEXTOID, CHAROID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Oid			markargs[3] = {TEXTARRAYOID, INT8OID, XID8OID};

		plan_insert_returning = prepare_kept(
			"INSERT INTO strata.change_log (xid, source, op, keys, prefixes, marks) "
			"VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq", 6, argtypes);
		plan_marks = prepare_kept(
			"INSERT INTO strata.dirty_marks (mark, seq, xid) "
			"SELECT m.m, $2, $3 FROM pg_catalog.unnest($1) AS m(m)", 3, markargs);
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
		bool		isnull;

		seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	}

	if (marks != NIL)
	{
		Datum		mvalues[3];

		mvalues[0] = values[5];
		mvalues[1] = Int64GetDatum(seq);
		mvalues[2] = values[0];
		rc = SPI_execute_plan(plan_marks, mvalues, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not write strata.dirty_marks: %s", SPI_result_code_string(rc));
	}

	SPI_finish();
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

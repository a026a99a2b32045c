/*
 * watch.c
 *		strata.watch() and strata.unwatch(): validate templates, record the
 *		rules in strata.watches and install or drop the capture triggers.
 *
 * Everything that could make a later write fail is checked here: templates'
 * syntax and length, that every placeholder names a column, that the table
 * has a primary key when no templates are given.  The caller needs the
 * TRIGGER privilege on the table (what CREATE TRIGGER needs); the rules and
 * triggers are then written as the extension's owner, so that callers need no
 * privileges on strata's own tables.
 */
#include "strata.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(strata_watch);
PG_FUNCTION_INFO_V1(strata_unwatch);

static int
lookup_column(const char *name, void *arg)
{
	TupleDesc	desc = (TupleDesc) arg;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i;
	}
	return -1;
}

static char *
column_list(TupleDesc desc)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", NameStr(att->attname));
	}
	return buf.len ? buf.data : "(none)";
}

static List *
text_array_list(ArrayType *arr, const char *what)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	List	   *l = NIL;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;
		ListCell   *lc;
		bool		dup = false;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s may not contain NULL", what)));
		s = TextDatumGetCString(elems[i]);
		foreach(lc, l)
			if (strcmp((char *) lfirst(lc), s) == 0)
				dup = true;
		if (!dup)
			l = lappend(l, s);
	}
	return l;
}

static void
validate_templates(Relation rel, List *templates, const char *kind)
{
	ListCell   *lc;
	TupleDesc	desc = RelationGetDescr(rel);

	foreach(lc, templates)
	{
		char	   *t = (char *) lfirst(lc);
		StrataTemplate parsed;
		char	   *missing;
		char	   *error;

		if (strata_parse_template(t, &parsed, lookup_column, desc, &missing, &error))
			continue;
		if (missing)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" named in %s template \"%s\" does not exist in table \"%s\"",
							missing, kind, t, RelationGetRelationName(rel)),
					 errhint("Columns of \"%s\": %s.",
							 RelationGetRelationName(rel), column_list(desc))));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s template \"%s\"", kind, t),
				 errdetail("%s.", error),
				 errhint("A template is ':'-separated literal segments and whole-segment placeholders, like 'authz:user:{user_id}', optionally ending in ':*'.")));
	}
}

/* '<table>:{pk1}:{pk2}' from the primary key, or an error. */
static List *
default_templates(Relation rel)
{
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	Relation	idx;
	StringInfoData buf;
	int			i;

	if (!OidIsValid(pkoid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
				 errhint("Pass key templates naming the columns that identify a row, e.g. keys => ARRAY['%s:{%s}'].",
						 RelationGetRelationName(rel),
						 RelationGetDescr(rel)->natts > 0 ?
						 NameStr(TupleDescAttr(RelationGetDescr(rel), 0)->attname) : "column")));

	initStringInfo(&buf);
	strata_escape_value(&buf, RelationGetRelationName(rel),
						strlen(RelationGetRelationName(rel)));
	idx = index_open(pkoid, AccessShareLock);
	for (i = 0; i < idx->rd_index->indnkeyatts; i++)
	{
		AttrNumber	attnum = idx->rd_index->indkey.values[i];
		char	   *name = NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname);

		if (strpbrk(name, ":{}") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("primary key column \"%s\" of table \"%s\" cannot be named in a key template",
							name, RelationGetRelationName(rel)),
					 errhint("Pass key templates explicitly.")));
		appendStringInfo(&buf, ":{%s}", name);
	}
	index_close(idx, AccessShareLock);
	return list_make1(buf.data);
}

/* The caller needs TRIGGER on the table; checked before taking any lock. */
static void
check_trigger_privilege(Oid relid)
{
	AclResult	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_TRIGGER);

	if (aclresult != ACLCHECK_OK)
	{
		char	   *name = get_rel_name(relid);

		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", relid)));
		aclcheck_error(aclresult, OBJECT_TABLE, name);
	}
}

static Relation
open_watchable(Oid relid, LOCKMODE lockmode)
{
	Relation	rel;
	Oid			nsp = strata_namespace(true);

	check_trigger_privilege(relid);
	rel = relation_open(relid, lockmode);

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ?
				 errhint("Watch each partition of a partitioned table.") :
				 errhint("Watch the tables it is built from.")));
	if (IsCatalogRelation(rel) || IsSystemRelation(rel))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot watch system table \"%s\"", RelationGetRelationName(rel))));
	if (OidIsValid(nsp) && RelationGetNamespace(rel) == nsp)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot watch strata's own table \"%s\"", RelationGetRelationName(rel)),
				 errhint("The outbox is read by the worker; watching it would capture captures.")));

	return rel;
}

static void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "strata: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

static Datum
list_to_array(List *l)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(l), 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, l)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * strata.watch(tbl regclass, keys text[] DEFAULT NULL, marks text[] DEFAULT
 *				'{}', collapse_after integer DEFAULT 1000) returns void
 */
Datum
strata_watch(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	List	   *keys = NIL;
	List	   *marks = NIL;
	int			collapse_after = 1000;
	char	   *qualified;
	Oid			save_userid;
	int			save_sec_context;
	Datum		values[4];
	Oid			argtypes[4] = {REGCLASSOID, TEXTARRAYOID, TEXTARRAYOID, INT4OID};
	int			rc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table may not be NULL")));
	relid = PG_GETARG_OID(0);
	if (!PG_ARGISNULL(1))
		keys = text_array_list(PG_GETARG_ARRAYTYPE_P(1), "keys");
	if (!PG_ARGISNULL(2))
		marks = text_array_list(PG_GETARG_ARRAYTYPE_P(2), "marks");
	if (!PG_ARGISNULL(3))
		collapse_after = PG_GETARG_INT32(3);
	if (collapse_after < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("collapse_after must be at least 0")));

	/* the lock CREATE TRIGGER takes: no concurrent DDL or writes while we look */
	rel = open_watchable(relid, ShareRowExclusiveLock);
	if (keys == NIL)
		keys = default_templates(rel);
	validate_templates(rel, keys, "key");
	validate_templates(rel, marks, "mark");
	qualified = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										   RelationGetRelationName(rel));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = list_to_array(keys);
	values[2] = list_to_array(marks);
	values[3] = Int32GetDatum(collapse_after);

	strata_switch_to_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(
		"INSERT INTO strata.watches (tbl, keys, marks, collapse_after) "
		"VALUES ($1, $2, $3, $4) ON CONFLICT (tbl) DO UPDATE SET "
		"keys = EXCLUDED.keys, marks = EXCLUDED.marks, "
		"collapse_after = EXCLUDED.collapse_after, created_at = pg_catalog.now()",
		4, argtypes, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not record the rules in strata.watches: %s",
			 SPI_result_code_string(rc));
	spi_exec(psprintf("CREATE OR REPLACE TRIGGER " STRATA_TRIGGER_ROW
					  " AFTER INSERT OR UPDATE OR DELETE ON %s"
					  " FOR EACH ROW EXECUTE FUNCTION strata.capture()", qualified),
			 SPI_OK_UTILITY);
	spi_exec(psprintf("CREATE OR REPLACE TRIGGER " STRATA_TRIGGER_TRUNCATE
					  " AFTER TRUNCATE ON %s"
					  " FOR EACH STATEMENT EXECUTE FUNCTION strata.capture()", qualified),
			 SPI_OK_UTILITY);
	SPI_finish();
	strata_restore_user(save_userid, save_sec_context);

	/* every backend rebuilds its cached rules for the table at commit */
	CacheInvalidateRelcacheByRelid(relid);
	relation_close(rel, NoLock);
	PG_RETURN_VOID();
}

/*
 * strata.unwatch(tbl regclass) returns boolean
 */
Datum
strata_unwatch(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	char	   *qualified;
	Oid			save_userid;
	int			save_sec_context;
	Datum		values[1];
	Oid			argtypes[1] = {REGCLASSOID};
	int			rc;
	bool		found;

	check_trigger_privilege(relid);
	rel = relation_open(relid, ShareRowExclusiveLock);
	qualified = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										   RelationGetRelationName(rel));
	values[0] = ObjectIdGetDatum(relid);

	strata_switch_to_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (OidIsValid(get_trigger_oid(relid, STRATA_TRIGGER_ROW, true)))
		spi_exec(psprintf("DROP TRIGGER " STRATA_TRIGGER_ROW " ON %s", qualified),
				 SPI_OK_UTILITY);
	if (OidIsValid(get_trigger_oid(relid, STRATA_TRIGGER_TRUNCATE, true)))
		spi_exec(psprintf("DROP TRIGGER " STRATA_TRIGGER_TRUNCATE " ON %s", qualified),
				 SPI_OK_UTILITY);
	rc = SPI_execute_with_args("DELETE FROM strata.watches WHERE tbl OPERATOR(pg_catalog.=) $1",
							   1, argtypes, values, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "could not delete from strata.watches: %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	SPI_finish();
	strata_restore_user(save_userid, save_sec_context);

	CacheInvalidateRelcacheByRelid(relid);
	relation_close(rel, NoLock);
	PG_RETURN_BOOL(found);
}

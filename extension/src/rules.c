/*
 * rules.c
 *		Backend-local cache of each watched table's rules: parsed templates,
 *		the attribute numbers and output functions of the columns they name,
 *		and what a collapsed change writes.
 *
 * Built from strata.watches on the first change of a table in a backend and
 * kept until a relcache invalidation for the table arrives (watch() and
 * unwatch() send one; so do ALTER TABLE and the trigger DDL), so that rows do
 * not read catalogs.  A template naming a column that no longer exists does
 * not fail the write: it contributes its collapsed form (a prefix) instead,
 * with a WARNING when the rules are built.
 */
#include "strata.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct RulesEntry
{
	Oid			relid;			/* hash key */
	StrataRules *rules;
} RulesEntry;

static HTAB *rules_hash = NULL;

/*
 * The rules returned last, for a run of changes to one table: used while
 * valid (the relcache callback clears that as for any entry) without the
 * hash lookup.  Forgotten before rules are freed.
 */
static StrataRules *last_rules = NULL;

static Oid	building_relid = InvalidOid;	/* rules being read right now */
static bool building_invalidated = false;
static int	rules_in_use = 0;
static SPIPlanPtr plan_read = NULL;

void
strata_rules_relcache_callback(Oid relid)
{
	if (OidIsValid(building_relid) &&
		(relid == InvalidOid || relid == building_relid))
		building_invalidated = true;
	if (rules_hash == NULL)
		return;
	if (relid == InvalidOid)
	{
		HASH_SEQ_STATUS status;
		RulesEntry *e;

		hash_seq_init(&status, rules_hash);
		while ((e = hash_seq_search(&status)) != NULL)
			if (e->rules)
				e->rules->valid = false;
	}
	else
	{
		RulesEntry *e = hash_search(rules_hash, &relid, HASH_FIND, NULL);

		if (e && e->rules)
			e->rules->valid = false;
	}
}

void
strata_rules_begin_use(void)
{
	rules_in_use++;
}

void
strata_rules_reset_use(void)
{
	rules_in_use = 0;
}

void
strata_rules_end_use(void)
{
	if (rules_in_use > 0)
		rules_in_use--;
}

/* Placeholder lookup against the table's columns, collecting distinct ones. */
typedef struct ColumnCollector
{
	TupleDesc	desc;
	int			ncols;
	int			maxcols;
	AttrNumber *attnums;
} ColumnCollector;

static int
collect_column(const char *name, void *arg)
{
	ColumnCollector *cc = (ColumnCollector *) arg;
	int			i;

	for (i = 0; i < cc->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(cc->desc, i);
		int			j;

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		for (j = 0; j < cc->ncols; j++)
			if (cc->attnums[j] == att->attnum)
				return j;
		if (cc->ncols == cc->maxcols)
		{
			cc->maxcols *= 2;
			cc->attnums = repalloc(cc->attnums, sizeof(AttrNumber) * cc->maxcols);
		}
		cc->attnums[cc->ncols] = att->attnum;
		return cc->ncols++;
	}
	return -1;
}

/*
 * Does the type's text output ignore session settings (DateStyle, TimeZone,
 * IntervalStyle, extra_float_digits, bytea_output, lc_monetary)?  Otherwise
 * the trigger renders with fixed settings, so that keys do not depend on the
 * writer's session.
 */
static bool
output_is_setting_free(Oid typid)
{
	Oid			base = getBaseType(typid);

	switch (base)
	{
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NUMERICOID:
		case UUIDOID:
			return true;
		default:
			return get_typtype(base) == TYPTYPE_ENUM;
	}
}

static List *
append_unique(List *l, char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (strcmp((char *) lfirst(lc), s) == 0)
			return l;
	return lappend(l, s);
}

/* Reads the table's row of strata.watches: templates into *texts. */
static bool
read_watch_row(Oid relid, List **keys, List **marks, int *collapse_after,
			   MemoryContext cxt)
{
	Datum		values[1];
	Oid			save_userid;
	int			save_sec_context;
	bool		found = false;
	int			rc;

	values[0] = ObjectIdGetDatum(relid);
	strata_switch_to_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan_read == NULL)
	{
		Oid			argtypes[1] = {REGCLASSOID};

		plan_read = SPI_prepare("SELECT keys, marks, collapse_after FROM strata.watches "
								"WHERE tbl OPERATOR(pg_catalog.=) $1", 1, argtypes);
		if (plan_read == NULL || SPI_keepplan(plan_read) != 0)
			elog(ERROR, "could not prepare the strata rules query: %s",
				 SPI_result_code_string(SPI_result));
	}
	rc = SPI_execute_plan(plan_read, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read strata.watches: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int			col;

		found = true;
		for (col = 1; col <= 2; col++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(tup, desc, col, &isnull);
			Datum	   *elems;
			bool	   *nulls;
			int			n,
						i;
			MemoryContext old;

			if (isnull)
				continue;
			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &nulls, &n);
			old = MemoryContextSwitchTo(cxt);
			for (i = 0; i < n; i++)
				if (!nulls[i])
				{
					char	   *s = TextDatumGetCString(elems[i]);

					if (col == 1)
						*keys = lappend(*keys, s);
					else
						*marks = lappend(*marks, s);
				}
			MemoryContextSwitchTo(old);
		}
		{
			bool		isnull;
			Datum		d = SPI_getbinval(tup, desc, 3, &isnull);

			*collapse_after = isnull ? 1000 : DatumGetInt32(d);
		}
	}
	SPI_finish();
	strata_restore_user(save_userid, save_sec_context);
	return found;
}

static void
fill_rules(Relation rel, StrataRules *r, MemoryContext cxt)
{
	MemoryContext old;
	List	   *keys = NIL;
	List	   *marks = NIL;
	int			collapse_after = 1000;
	ColumnCollector cc;
	ListCell   *lc;
	int			i;

	{
		r->watched = read_watch_row(r->relid, &keys, &marks, &collapse_after, cxt);

		old = MemoryContextSwitchTo(cxt);
		r->source = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel));
		if (!r->watched)
		{
			MemoryContextSwitchTo(old);
			ereport(WARNING,
					(errmsg("table %s has a strata capture trigger but is not watched; its changes are not captured",
							r->source),
					 errhint("Call strata.watch() for it, or strata.unwatch() to drop the trigger.")));
		}
		else
		{
			r->collapse_after = collapse_after;
			r->nkeys = list_length(keys);
			r->nmarks = list_length(marks);
			r->templates = palloc0(sizeof(StrataTemplate) * (r->nkeys + r->nmarks));
			r->template_broken = palloc0(sizeof(bool) * (r->nkeys + r->nmarks));
			cc.desc = RelationGetDescr(rel);
			cc.ncols = 0;
			cc.maxcols = 8;
			cc.attnums = palloc(sizeof(AttrNumber) * cc.maxcols);

			i = 0;
			foreach(lc, list_concat(list_copy(keys), marks))
			{
				char	   *t = (char *) lfirst(lc);
				char	   *missing;
				char	   *error;
				StrataTemplate *tp = &r->templates[i];
				bool		is_mark = (i >= r->nkeys);

				if (!strata_parse_template(t, tp, collect_column, &cc, &missing, &error))
				{
					char	   *missing2;

					r->template_broken[i] = true;
					/* parse without columns, for the collapsed form */
					if (!strata_parse_template(t, tp, NULL, NULL, &missing2, &error))
					{
						tp->collapsed = "*";
						tp->collapsed_is_prefix = true;
					}
					MemoryContextSwitchTo(old);
					ereport(WARNING,
							(errmsg("%s template \"%s\" of table %s cannot be rendered; its changes invalidate \"%s\"",
									is_mark ? "mark" : "key", t, r->source, tp->collapsed),
							 errdetail("%s.", missing ? psprintf("Column \"%s\" does not exist", missing) : error),
							 errhint("Call strata.watch() again with templates that name existing columns.")));
					MemoryContextSwitchTo(cxt);
				}
				if (is_mark)
					r->collapsed_marks = append_unique(r->collapsed_marks, tp->collapsed);
				else if (tp->collapsed_is_prefix)
					r->collapsed_prefixes = append_unique(r->collapsed_prefixes, tp->collapsed);
				else
					r->collapsed_keys = append_unique(r->collapsed_keys, tp->collapsed);
				i++;
			}

			r->ncols = cc.ncols;
			r->attnums = cc.attnums;
			r->outfuncs = palloc0(sizeof(FmgrInfo) * Max(cc.ncols, 1));
			for (i = 0; i < cc.ncols; i++)
			{
				Form_pg_attribute att = TupleDescAttr(cc.desc, cc.attnums[i] - 1);
				Oid			outfunc;
				bool		isvarlena;

				getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
				fmgr_info_cxt(outfunc, &r->outfuncs[i], cxt);
				if (!output_is_setting_free(att->atttypid))
					r->canonical_gucs = true;
			}
			MemoryContextSwitchTo(old);
		}
	}
}

static StrataRules *
build_rules(Relation rel)
{
	MemoryContext cxt;
	StrataRules *r;

	cxt = AllocSetContextCreate(CacheMemoryContext, "strata rules",
								ALLOCSET_SMALL_SIZES);
	r = MemoryContextAllocZero(cxt, sizeof(StrataRules));
	r->relid = RelationGetRelid(rel);
	r->cxt = cxt;
	r->valid = true;

	PG_TRY();
	{
		fill_rules(rel, r, cxt);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return r;
}

/* strata_rules_get() past the last table's rules: the hash, or a build. */
static pg_noinline StrataRules *
rules_lookup(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	RulesEntry *e;
	bool		found;
	StrataRules *old;
	StrataRules *volatile r = NULL;

	if (rules_hash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RulesEntry);
		ctl.hcxt = CacheMemoryContext;
		rules_hash = hash_create("strata rules", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	e = hash_search(rules_hash, &relid, HASH_ENTER, &found);
	if (!found)
		e->rules = NULL;
	if (e->rules != NULL && e->rules->valid)
	{
		last_rules = e->rules;
		return e->rules;
	}

	old = e->rules;
	e->rules = NULL;
	last_rules = NULL;
	if (old != NULL && rules_in_use == 0)
		MemoryContextDelete(old->cxt);	/* else leak it: an outer call uses it */

	building_relid = relid;
	building_invalidated = false;
	PG_TRY();
	{
		r = build_rules(rel);
	}
	PG_FINALLY();
	{
		building_relid = InvalidOid;
	}
	PG_END_TRY();
	/* an invalidation that arrived while reading may not be reflected */
	if (building_invalidated)
		r->valid = false;
	e = hash_search(rules_hash, &relid, HASH_ENTER, &found);
	e->rules = r;
	last_rules = r;
	return r;
}

StrataRules *
strata_rules_get(Relation rel)
{
	StrataRules *r = last_rules;

	if (r != NULL && r->relid == RelationGetRelid(rel) && r->valid)
		return r;
	return rules_lookup(rel);
}

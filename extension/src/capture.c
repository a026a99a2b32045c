/*
 * capture.c
 *		The capture trigger strata.capture(): renders the table's templates
 *		against OLD and NEW rows and writes the keys not yet written in this
 *		transaction to the outbox.
 *
 * Per transaction (emptied at pre-commit, and at the end of the transaction):
 *	- a dedup set of every key, prefix and mark already written, each with the
 *	  table it counts for and the subtransaction that wrote it;
 *	- per table, the number of distinct entries written and whether the table
 *	  collapsed.  Once a row would take a table past collapse_after entries,
 *	  one row with op 'C' and the table's prefixes is written instead and
 *	  nothing more for that table in this transaction.  TRUNCATE writes the
 *	  same with op 'T' and also ends the table's capture for the transaction
 *	  (its prefixes cover every later change).
 * When a subtransaction aborts, its outbox rows are gone: entries it (or its
 * children: their ids are larger) wrote are forgotten, and a collapse it
 * made is undone, so later changes are written again.
 */
#include "strata.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(strata_capture);

typedef struct DedupEntry
{
	char	   *key;			/* hash key: kind byte + key text */
	Oid			relid;
	SubTransactionId subid;
} DedupEntry;

typedef struct TableState
{
	Oid			relid;			/* hash key */
	int			count;			/* distinct entries written for the table */
	SubTransactionId collapsed_sub; /* Invalid: not collapsed */
} TableState;

/*
 * The two tables live as long as the backend (creating them for every
 * writing transaction was a measurable part of the trigger's cost) and are
 * emptied when the transaction ends; the dedup strings are in key_cxt, reset
 * then.  Emptying removes the entries the transaction added, remembered in
 * added_keys and added_tables, rather than scanning every bucket.  A
 * transaction that added more than STATE_KEEP_ENTRIES to either table has
 * grown it to many buckets: both are dropped instead and made anew when
 * needed.
 */
#define STATE_KEEP_ENTRIES	256

static MemoryContext key_cxt = NULL;
static HTAB *dedup = NULL;
static HTAB *tables = NULL;
static bool state_used = false;	/* entries added in this transaction */

/*
 * What this transaction added, until either list is full (added_overflow).
 * An entry that a subtransaction abort removed stays listed (its key string
 * stays in key_cxt until the end): removing it again finds nothing.
 */
static char *added_keys[STATE_KEEP_ENTRIES];
static int	n_added_keys = 0;
static Oid	added_tables[STATE_KEEP_ENTRIES];
static int	n_added_tables = 0;
static bool added_overflow = false;

static uint32
dedup_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
dedup_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

static void
ensure_state(void)
{
	HASHCTL		ctl;

	if (key_cxt == NULL)
		key_cxt = AllocSetContextCreate(TopMemoryContext, "strata capture keys",
										ALLOCSET_SMALL_SIZES);
	if (dedup == NULL)
	{
		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(DedupEntry);
		ctl.hash = dedup_hash;
		ctl.match = dedup_match;
		ctl.hcxt = TopMemoryContext;
		/* small: most transactions write a few keys (it grows as needed) */
		dedup = hash_create("strata dedup", 32, &ctl,
							HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	if (tables == NULL)
	{
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(TableState);
		ctl.hcxt = TopMemoryContext;
		tables = hash_create("strata tables", 8, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	state_used = true;
}

void
strata_capture_xact_end(void)
{
	if (state_used)
	{
		if (added_overflow)
		{
			hash_destroy(dedup);
			hash_destroy(tables);
			dedup = NULL;
			tables = NULL;
		}
		else
		{
			int			i;

			/* before the reset: removing compares the key strings */
			for (i = 0; i < n_added_keys; i++)
				hash_search(dedup, &added_keys[i], HASH_REMOVE, NULL);
			for (i = 0; i < n_added_tables; i++)
				hash_search(tables, &added_tables[i], HASH_REMOVE, NULL);
			Assert(hash_get_num_entries(dedup) == 0);
			Assert(hash_get_num_entries(tables) == 0);
		}
		MemoryContextReset(key_cxt);
		n_added_keys = 0;
		n_added_tables = 0;
		added_overflow = false;
		state_used = false;
	}
	strata_rules_reset_use();
}

void
strata_capture_subxact_abort(SubTransactionId subid)
{
	HASH_SEQ_STATUS status;
	DedupEntry *d;
	TableState *t;

	if (!state_used)
		return;
	hash_seq_init(&status, dedup);
	while ((d = hash_seq_search(&status)) != NULL)
	{
		if (d->subid >= subid)
		{
			t = hash_search(tables, &d->relid, HASH_FIND, NULL);
			if (t)
				t->count--;
			hash_search(dedup, &d->key, HASH_REMOVE, NULL);
		}
	}
	hash_seq_init(&status, tables);
	while ((t = hash_seq_search(&status)) != NULL)
		if (t->collapsed_sub != InvalidSubTransactionId && t->collapsed_sub >= subid)
			t->collapsed_sub = InvalidSubTransactionId;
}

/* Candidates of one row, before dedup. */
typedef struct RowKeys
{
	List	   *keys;
	List	   *prefixes;
	List	   *marks;
} RowKeys;

/* Renders every template of r against one tuple. */
static void
render_tuple(StrataRules *r, HeapTuple tuple, TupleDesc desc, RowKeys *out)
{
	char	  **vals = palloc0(sizeof(char *) * Max(r->ncols, 1));
	bool	   *done = palloc0(sizeof(bool) * Max(r->ncols, 1));
	StringInfoData buf;
	StringInfoData esc;
	int			i;

	initStringInfo(&buf);
	initStringInfo(&esc);
	for (i = 0; i < r->nkeys + r->nmarks; i++)
	{
		StrataTemplate *t = &r->templates[i];
		bool		is_mark = (i >= r->nkeys);
		bool		ok = true;
		int			s;
		char	   *key;

		if (r->template_broken[i])
		{
			key = t->collapsed;
			if (is_mark)
				out->marks = lappend(out->marks, key);
			else if (t->collapsed_is_prefix)
				out->prefixes = lappend(out->prefixes, key);
			else
				out->keys = lappend(out->keys, key);
			continue;
		}

		resetStringInfo(&buf);
		for (s = 0; s < t->nsegs; s++)
		{
			StrataSegment *seg = &t->segs[s];

			if (s > 0)
				appendStringInfoChar(&buf, ':');
			if (!seg->is_placeholder)
			{
				appendBinaryStringInfo(&buf, seg->text, seg->len);
				continue;
			}
			if (!done[seg->col])
			{
				bool		isnull;
				Datum		d = heap_getattr(tuple, r->attnums[seg->col], desc, &isnull);

				done[seg->col] = true;
				if (!isnull)
				{
					char	   *raw = OutputFunctionCall(&r->outfuncs[seg->col], d);

					resetStringInfo(&esc);
					strata_escape_value(&esc, raw, strlen(raw));
					vals[seg->col] = pnstrdup(esc.data, esc.len);
				}
			}
			if (vals[seg->col] == NULL)
			{
				ok = false;		/* NULL identifies no entity: no key */
				break;
			}
			appendStringInfoString(&buf, vals[seg->col]);
		}
		if (!ok)
			continue;
		if (t->is_prefix)
			appendStringInfoString(&buf, ":*");
		key = pstrdup(buf.data);
		if (is_mark)
			out->marks = lappend(out->marks, key);
		else if (t->is_prefix)
			out->prefixes = lappend(out->prefixes, key);
		else
			out->keys = lappend(out->keys, key);
	}
}

/*
 * Whether NEW renders exactly what OLD did: every column the templates read
 * holds the same bytes in both rows (an UPDATE that leaves the key columns
 * alone, the common case).  Equal bytes give equal output text, so OLD's
 * keys are NEW's.  A value stored differently in the two (one of them
 * TOASTed, say) only means rendering twice, as for a changed column.
 */
static bool
same_template_columns(StrataRules *r, HeapTuple oldtup, HeapTuple newtup,
					  TupleDesc desc)
{
	int			c;

	for (c = 0; c < r->ncols; c++)
	{
		AttrNumber	attnum = r->attnums[c];
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		oldnull;
		bool		newnull;
		Datum		oldval = heap_getattr(oldtup, attnum, desc, &oldnull);
		Datum		newval = heap_getattr(newtup, attnum, desc, &newnull);

		if (oldnull != newnull)
			return false;
		if (!oldnull && !datumIsEqual(oldval, newval, att->attbyval, att->attlen))
			return false;
	}
	return true;
}

/*
 * Moves the entries of in not yet in the dedup set (nor earlier in the row)
 * to *out, as dedup strings in *dkeys.  Returns how many.
 */
static int
filter_new(List *in, char kind, List **out, List **dkeys)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, in)
	{
		char	   *k = (char *) lfirst(lc);
		size_t		len = strlen(k);
		char	   *dk = palloc(len + 2);
		ListCell   *lc2;
		bool		seen = false;

		dk[0] = kind;
		memcpy(dk + 1, k, len + 1);
		if (hash_search(dedup, &dk, HASH_FIND, NULL) != NULL)
			continue;
		foreach(lc2, *dkeys)
			if (strcmp((char *) lfirst(lc2), dk) == 0)
			{
				seen = true;
				break;
			}
		if (seen)
			continue;
		*out = lappend(*out, k);
		*dkeys = lappend(*dkeys, dk);
		n++;
	}
	return n;
}

static void
write_collapsed(StrataRules *r, TableState *ts, char op)
{
	ts->collapsed_sub = GetCurrentSubTransactionId();
	if (r->collapsed_keys == NIL && r->collapsed_prefixes == NIL &&
		r->collapsed_marks == NIL)
		return;
	strata_outbox_write(r->source, op, r->collapsed_keys,
						r->collapsed_prefixes, r->collapsed_marks, false);
}

static void
capture_row(StrataRules *r, TableState *ts, TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	RowKeys		cand = {NIL, NIL, NIL};
	RowKeys		fresh = {NIL, NIL, NIL};
	List	   *dkeys = NIL;
	int			nnew;
	char		op;
	ListCell   *lc;
	SubTransactionId subid;
	int			guc_nest = -1;

	if (r->canonical_gucs)
	{
		/* keys must not depend on the writer's DateStyle, TimeZone, ... */
		guc_nest = NewGUCNestLevel();
		set_config_option("datestyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
						  GUC_ACTION_SAVE, true, 0, false);
		set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
						  GUC_ACTION_SAVE, true, 0, false);
		set_config_option("timezone", "UTC", PGC_USERSET, PGC_S_SESSION,
						  GUC_ACTION_SAVE, true, 0, false);
		set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
						  GUC_ACTION_SAVE, true, 0, false);
		set_config_option("bytea_output", "hex", PGC_USERSET, PGC_S_SESSION,
						  GUC_ACTION_SAVE, true, 0, false);
		set_config_option("lc_monetary", "C", PGC_USERSET, PGC_S_SESSION,
						  GUC_ACTION_SAVE, true, 0, false);
	}

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = 'I';
		render_tuple(r, td->tg_trigtuple, desc, &cand);
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		op = 'U';
		render_tuple(r, td->tg_trigtuple, desc, &cand);	/* OLD */
		if (!same_template_columns(r, td->tg_trigtuple, td->tg_newtuple, desc))
			render_tuple(r, td->tg_newtuple, desc, &cand);	/* NEW */
	}
	else
	{
		op = 'D';
		render_tuple(r, td->tg_trigtuple, desc, &cand);
	}
	if (guc_nest >= 0)
		AtEOXact_GUC(false, guc_nest);

	nnew = filter_new(cand.keys, 'k', &fresh.keys, &dkeys);
	nnew += filter_new(cand.prefixes, 'k', &fresh.prefixes, &dkeys);
	nnew += filter_new(cand.marks, 'm', &fresh.marks, &dkeys);
	if (nnew == 0)
		return;

	if ((int64) ts->count + nnew > (int64) r->collapse_after)
	{
		write_collapsed(r, ts, 'C');
		return;
	}

	subid = GetCurrentSubTransactionId();
	foreach(lc, dkeys)
	{
		char	   *dk = MemoryContextStrdup(key_cxt, (char *) lfirst(lc));
		bool		found;
		DedupEntry *d;

		if (n_added_keys < STATE_KEEP_ENTRIES)
			added_keys[n_added_keys++] = dk;
		else
			added_overflow = true;
		d = hash_search(dedup, &dk, HASH_ENTER, &found);
		d->key = dk;
		d->relid = r->relid;
		d->subid = subid;
	}
	ts->count += nnew;

	strata_outbox_write(r->source, op, fresh.keys, fresh.prefixes, fresh.marks, false);
}

/*
 * strata.capture() returns trigger
 *
 * Row-level AFTER INSERT OR UPDATE OR DELETE, statement-level AFTER TRUNCATE;
 * installed by strata.watch().
 */
Datum
strata_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	StrataRules *r;
	TableState *ts;
	bool		found;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("strata.capture() may only be called as a trigger")));
	td = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("strata.capture() must be fired AFTER"),
				 errhint("Install it with strata.watch().")));

	/* statement-level INSERT/UPDATE/DELETE: nothing to do (rows do it) */
	if (!TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) &&
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		return PointerGetDatum(NULL);

	relid = RelationGetRelid(td->tg_relation);
	r = strata_rules_get(td->tg_relation);
	if (!r->watched)
		return PointerGetDatum(NULL);

	ensure_state();
	ts = hash_search(tables, &relid, HASH_ENTER, &found);
	if (!found)
	{
		if (n_added_tables < STATE_KEEP_ENTRIES)
			added_tables[n_added_tables++] = relid;
		else
			added_overflow = true;
		ts->count = 0;
		ts->collapsed_sub = InvalidSubTransactionId;
	}
	if (ts->collapsed_sub != InvalidSubTransactionId)
		return PointerGetDatum(NULL);

	strata_rules_begin_use();
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		write_collapsed(r, ts, 'T');
	else
		capture_row(r, ts, td);
	strata_rules_end_use();

	return PointerGetDatum(NULL);
}

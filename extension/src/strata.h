/*
 * strata.h
 *		Shared declarations of the strata change-capture extension.
 *
 * The extension turns row changes of watched tables into invalidation records
 * in the outbox table strata.change_log, inside the writing transaction.  See
 * docs/capture.md for the contract.
 *
 *	strata.c	_PG_init, GUCs, shared memory, transaction callbacks, wake-ups
 *	template.c	key templates: parsing, validation, escaping, rendering
 *	rules.c		per-table rule cache (backend-local, relcache-invalidated)
 *	outbox.c	writing strata.change_log / strata.dirty_marks; invalidate()
 *	capture.c	the trigger: dedup and collapse per transaction
 *	watch.c		strata.watch() / strata.unwatch()
 */
#ifndef STRATA_H
#define STRATA_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

/* Limits from docs/capture.md. */
#define STRATA_MAX_TEMPLATE_BYTES	256
#define STRATA_MAX_SEGMENT_BYTES	128 /* escaped value longer than this is hashed */
#define STRATA_HASH_HEX_DIGITS		32	/* "%H" + this many hex digits of SHA-256 */
#define STRATA_MAX_KEY_BYTES		2048	/* bound for keys given to invalidate() */

#define STRATA_SCHEMA				"strata"
#define STRATA_WAKEUP_CHANNEL		"strata_wakeup"
#define STRATA_TRIGGER_ROW			"strata_capture"
#define STRATA_TRIGGER_TRUNCATE		"strata_capture_truncate"

/* ---- template.c ---- */

/* One ':'-separated segment of a template. */
typedef struct StrataSegment
{
	bool		is_placeholder;
	char	   *text;			/* literal text, or the column name */
	int			len;			/* strlen(text) */
	int			col;			/* placeholder: index into the caller's columns */
} StrataSegment;

typedef struct StrataTemplate
{
	char	   *source;			/* the template as written */
	bool		is_prefix;		/* ends in ":*" */
	bool		has_placeholder;
	int			nsegs;			/* not counting the trailing "*" of a prefix */
	StrataSegment *segs;
	/*
	 * What the template collapses to: the text before its first placeholder
	 * followed by "*" (a prefix), or the template itself if it names no
	 * column and is not a prefix (an exact key).
	 */
	char	   *collapsed;
	bool		collapsed_is_prefix;
} StrataTemplate;

/*
 * Resolves a placeholder's column name to an index (>= 0), or -1 when the
 * name is unknown.  The callback decides what the index means.
 */
typedef int (*StrataColumnLookup) (const char *name, void *arg);

extern bool strata_parse_template(const char *tmpl, StrataTemplate *out,
								  StrataColumnLookup lookup, void *arg,
								  char **missing_column, char **error);
extern void strata_escape_value(StringInfo out, const char *raw, int len);
extern bool strata_check_key(const char *key, bool *is_prefix, char **error);

/* ---- rules.c ---- */

typedef struct StrataRules
{
	Oid			relid;
	bool		valid;			/* cleared by the relcache callback */
	bool		watched;		/* false: trigger present but no rules */
	MemoryContext cxt;
	char	   *source;			/* schema-qualified table name */
	int			collapse_after;

	int			nkeys;			/* key templates first, then marks */
	int			nmarks;
	StrataTemplate *templates;	/* nkeys + nmarks */
	bool	   *template_broken;	/* a column is gone: use its collapsed form */

	int			ncols;			/* distinct columns used by placeholders */
	AttrNumber *attnums;
	FmgrInfo   *outfuncs;
	bool		canonical_gucs; /* a column's output depends on settings */

	/* what a collapsed change or a TRUNCATE writes, precomputed */
	List	   *collapsed_keys;
	List	   *collapsed_prefixes;
	List	   *collapsed_marks;
} StrataRules;

extern void strata_rules_relcache_callback(Oid relid);
extern StrataRules *strata_rules_get(Relation rel);
extern void strata_rules_begin_use(void);
extern void strata_rules_end_use(void);
extern void strata_rules_reset_use(void);

/* ---- strata.c ---- */

extern int	strata_wakeup_coalesce_ms;
extern void strata_note_outbox_write(void);

/* ---- outbox.c ---- */

extern void strata_outbox_relcache_callback(Oid relid);
extern int64 strata_outbox_write(const char *source, char op, List *keys,
								 List *prefixes, List *marks, bool want_seq);
extern Oid	strata_owner(void);
extern Oid	strata_namespace(bool missing_ok);
extern void strata_switch_to_owner(Oid *save_userid, int *save_sec_context);
extern void strata_restore_user(Oid save_userid, int save_sec_context);

/* ---- capture.c ---- */

extern void strata_capture_xact_end(void);
extern void strata_capture_subxact_abort(SubTransactionId subid);

#endif							/* STRATA_H */

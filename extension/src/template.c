/*
 * template.c
 *		Key templates: parsing and validation, escaping of values, rendering,
 *		and the SQL functions strata.escape_segment() and strata.render().
 *
 * A template is ':'-separated segments; a segment is literal text or exactly
 * one placeholder "{column}".  A template ending in ":*" is a prefix template.
 * Values are escaped so that no value can add a segment or a glob
 * metacharacter: every byte of "% : * ? [ ] \ { }", space, bytes below 0x20
 * and 0x7F become "%XX" (uppercase hex).  An escaped value longer than
 * STRATA_MAX_SEGMENT_BYTES is replaced by "%H" and the first 32 (lowercase)
 * hex digits of SHA-256 of the raw value; escaping never produces "%H".
 */
#include "strata.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(strata_escape_segment);
PG_FUNCTION_INFO_V1(strata_render);

static const char hexdigits_upper[] = "0123456789ABCDEF";
static const char hexdigits_lower[] = "0123456789abcdef";

/* Bytes that a value must not contribute verbatim to a key. */
static inline bool
needs_escape(unsigned char c)
{
	if (c < 0x20 || c == 0x7F)
		return true;
	switch (c)
	{
		case '%':
		case ':':
		case '*':
		case '?':
		case '[':
		case ']':
		case '\\':
		case '{':
		case '}':
		case ' ':
			return true;
		default:
			return false;
	}
}

static inline bool
is_upper_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static inline bool
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static inline int
hexval(char c)
{
	return (c <= '9') ? c - '0' : c - 'A' + 10;
}

/*
 * Is s[i..i+2] a "%XX" escape as escaping produces it: uppercase hex of a
 * byte that must be escaped?  (Accepting only canonical escapes keeps one
 * spelling per key.)
 */
static inline bool
is_escape(const char *s, int i, int len)
{
	return i + 2 < len && is_upper_hex(s[i + 1]) && is_upper_hex(s[i + 2]) &&
		needs_escape((unsigned char) (hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
}

void
strata_escape_value(StringInfo out, const char *raw, int len)
{
	int			escaped_len = 0;
	int			i;

	for (i = 0; i < len; i++)
		escaped_len += needs_escape((unsigned char) raw[i]) ? 3 : 1;

	if (escaped_len > STRATA_MAX_SEGMENT_BYTES)
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
		uint8		digest[PG_SHA256_DIGEST_LENGTH];

		if (ctx == NULL ||
			pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) raw, len) < 0 ||
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
			elog(ERROR, "could not compute SHA-256 of a key segment: %s",
				 ctx ? pg_cryptohash_error(ctx) : "out of memory");
		pg_cryptohash_free(ctx);

		enlargeStringInfo(out, 2 + STRATA_HASH_HEX_DIGITS);
		appendStringInfoString(out, "%H");
		for (i = 0; i < STRATA_HASH_HEX_DIGITS / 2; i++)
		{
			appendStringInfoChar(out, hexdigits_lower[digest[i] >> 4]);
			appendStringInfoChar(out, hexdigits_lower[digest[i] & 0x0F]);
		}
		return;
	}

	enlargeStringInfo(out, escaped_len);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) raw[i];

		if (needs_escape(c))
		{
			out->data[out->len++] = '%';
			out->data[out->len++] = hexdigits_upper[c >> 4];
			out->data[out->len++] = hexdigits_upper[c & 0x0F];
		}
		else
			out->data[out->len++] = (char) c;
	}
	out->data[out->len] = '\0';
}

/*
 * Checks one literal segment of a template: non-empty, no glob or reserved
 * characters.  "%" is accepted only as a complete "%XX" escape, so that a
 * literal may spell what escape_segment() produces (the default template of
 * a table whose name needs escaping does).
 */
static bool
check_literal(const char *s, int len, char **error)
{
	int			i;

	if (len == 0)
	{
		*error = pstrdup("A segment is empty");
		return false;
	}
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '%')
		{
			if (is_escape(s, i, len))
			{
				i += 2;
				continue;
			}
			*error = pstrdup("'%' may only start a %XX escape, as escape_segment() produces it");
			return false;
		}
		if (c == '*')
		{
			*error = pstrdup("'*' may only appear as the last segment, making a prefix template");
			return false;
		}
		if (c == '{' || c == '}')
		{
			*error = pstrdup("A placeholder must be a whole segment, like {column}");
			return false;
		}
		if (needs_escape(c))
		{
			*error = psprintf("A literal segment may not contain %s",
							  c == ' ' ? "spaces" :
							  (c < 0x20 || c == 0x7F) ? "control characters" :
							  psprintf("'%c'", c));
			return false;
		}
	}
	return true;
}

bool
strata_parse_template(const char *tmpl, StrataTemplate *out,
					  StrataColumnLookup lookup, void *arg,
					  char **missing_column, char **error)
{
	int			len = strlen(tmpl);
	int			nparts = 1;
	const char *p;
	const char *start;
	int			i;
	StringInfoData collapsed;

	*missing_column = NULL;
	*error = NULL;
	memset(out, 0, sizeof(*out));
	out->source = pstrdup(tmpl);

	if (len == 0)
	{
		*error = pstrdup("A template may not be empty");
		return false;
	}
	if (len > STRATA_MAX_TEMPLATE_BYTES)
	{
		*error = psprintf("A template may be at most %d bytes long",
						  STRATA_MAX_TEMPLATE_BYTES);
		return false;
	}

	for (p = tmpl; *p; p++)
		if (*p == ':')
			nparts++;
	out->segs = palloc0(sizeof(StrataSegment) * nparts);

	start = tmpl;
	for (i = 0; i < nparts; i++)
	{
		const char *end = strchr(start, ':');
		int			seglen = end ? (int) (end - start) : (int) strlen(start);
		bool		last = (i == nparts - 1);

		if (last && seglen == 1 && start[0] == '*')
		{
			if (nparts == 1)
			{
				*error = pstrdup("A prefix template needs at least one segment before \":*\"");
				return false;
			}
			out->is_prefix = true;
			break;
		}
		if (seglen >= 1 && start[0] == '{')
		{
			StrataSegment *seg = &out->segs[out->nsegs];
			char	   *name;

			if (seglen < 3 || start[seglen - 1] != '}' ||
				memchr(start + 1, '{', seglen - 2) != NULL ||
				memchr(start + 1, '}', seglen - 2) != NULL)
			{
				*error = pstrdup("A placeholder must be a whole segment, like {column}");
				return false;
			}
			name = pnstrdup(start + 1, seglen - 2);
			seg->is_placeholder = true;
			seg->text = name;
			seg->len = seglen - 2;
			seg->col = lookup ? lookup(name, arg) : -1;
			if (lookup && seg->col < 0)
			{
				*missing_column = name;
				return false;
			}
			out->has_placeholder = true;
		}
		else
		{
			StrataSegment *seg = &out->segs[out->nsegs];

			if (!check_literal(start, seglen, error))
				return false;
			seg->is_placeholder = false;
			seg->text = pnstrdup(start, seglen);
			seg->len = seglen;
			seg->col = -1;
		}
		out->nsegs++;
		if (end)
			start = end + 1;
	}

	/* What the template collapses to. */
	initStringInfo(&collapsed);
	for (i = 0; i < out->nsegs; i++)
	{
		if (out->segs[i].is_placeholder)
			break;
		appendBinaryStringInfo(&collapsed, out->segs[i].text, out->segs[i].len);
		appendStringInfoChar(&collapsed, ':');
	}
	if (out->has_placeholder || out->is_prefix)
	{
		appendStringInfoChar(&collapsed, '*');
		out->collapsed_is_prefix = true;
	}
	else
	{
		/* an exact literal key: drop the trailing ':' */
		collapsed.data[--collapsed.len] = '\0';
		out->collapsed_is_prefix = false;
	}
	out->collapsed = collapsed.data;
	return true;
}

/*
 * Validates a complete key as given to strata.invalidate(): what rendering
 * can produce, i.e. segments that are literal text or escaped values
 * (possibly empty, possibly "%H" + 32 hex digits), optionally ending in ":*".
 * A lone "*" is the prefix of every key.
 */
bool
strata_check_key(const char *key, bool *is_prefix, char **error)
{
	int			len = strlen(key);
	int			i;

	*is_prefix = false;
	*error = NULL;
	if (len == 0)
	{
		*error = pstrdup("A key may not be empty");
		return false;
	}
	if (len > STRATA_MAX_KEY_BYTES)
	{
		*error = psprintf("A key may be at most %d bytes long", STRATA_MAX_KEY_BYTES);
		return false;
	}
	if (strcmp(key, "*") == 0)
	{
		*is_prefix = true;
		return true;
	}
	if (len >= 2 && key[len - 1] == '*' && key[len - 2] == ':')
	{
		*is_prefix = true;
		len -= 1;				/* check the rest, keeping the final ':' */
	}
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) key[i];

		if (c == ':')
			continue;
		if (c == '%')
		{
			if (is_escape(key, i, len))
			{
				i += 2;
				continue;
			}
			if (i + 1 < len && key[i + 1] == 'H' &&
				(i == 0 || key[i - 1] == ':') &&
				i + 2 + STRATA_HASH_HEX_DIGITS <= len &&
				(i + 2 + STRATA_HASH_HEX_DIGITS == len ||
				 key[i + 2 + STRATA_HASH_HEX_DIGITS] == ':'))
			{
				int			j;

				for (j = 0; j < STRATA_HASH_HEX_DIGITS; j++)
					if (!is_lower_hex(key[i + 2 + j]))
						break;
				if (j == STRATA_HASH_HEX_DIGITS)
				{
					i += 1 + STRATA_HASH_HEX_DIGITS;
					continue;
				}
			}
			*error = pstrdup("'%' may only start a %XX escape or a %H hashed segment");
			return false;
		}
		if (c == '*')
		{
			*error = pstrdup("'*' may only appear as the last segment, making a prefix");
			return false;
		}
		if (needs_escape(c))
		{
			*error = psprintf("A key may not contain %s; escape values with strata.escape_segment()",
							  c == ' ' ? "spaces" :
							  (c < 0x20 || c == 0x7F) ? "control characters" :
							  psprintf("'%c'", c));
			return false;
		}
	}
	return true;
}

/*
 * strata.escape_segment(value text) returns text
 */
Datum
strata_escape_segment(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	StringInfoData buf;

	initStringInfo(&buf);
	strata_escape_value(&buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

typedef struct NameArray
{
	int			n;
	char	  **names;
} NameArray;

static int
lookup_name(const char *name, void *arg)
{
	NameArray  *na = (NameArray *) arg;
	int			i;

	for (i = 0; i < na->n; i++)
		if (na->names[i] != NULL && strcmp(na->names[i], name) == 0)
			return i;
	return -1;
}

static void
text_array_to_cstrings(ArrayType *arr, int *n, char ***out, bool **nulls_out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			i;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array must be one-dimensional")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	*out = palloc0(sizeof(char *) * (*n + 1));
	for (i = 0; i < *n; i++)
		(*out)[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	if (nulls_out)
		*nulls_out = nulls;
}

/*
 * strata.render(template text, names text[], vals text[]) returns text
 *
 * Renders one template against name/value pairs exactly as the trigger does:
 * NULL when a placeholder's value is NULL; a prefix template renders to a
 * key ending in ":*".
 */
Datum
strata_render(PG_FUNCTION_ARGS)
{
	char	   *tmpl;
	NameArray	na = {0, NULL};
	char	  **vals = NULL;
	int			nvals = 0;
	StrataTemplate t;
	char	   *missing;
	char	   *error;
	StringInfoData buf;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tmpl = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		text_array_to_cstrings(PG_GETARG_ARRAYTYPE_P(1), &na.n, &na.names, NULL);
	if (!PG_ARGISNULL(2))
		text_array_to_cstrings(PG_GETARG_ARRAYTYPE_P(2), &nvals, &vals, NULL);
	if (na.n != nvals)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("names and vals must have the same length (%d and %d)",
						na.n, nvals)));

	if (!strata_parse_template(tmpl, &t, lookup_name, &na, &missing, &error))
	{
		if (missing)
		{
			StringInfoData hint;

			initStringInfo(&hint);
			for (i = 0; i < na.n; i++)
				if (na.names[i])
					appendStringInfo(&hint, "%s%s", hint.len ? ", " : "", na.names[i]);
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("placeholder \"{%s}\" in key template \"%s\" names no given column",
							missing, tmpl),
					 errhint("Given names: %s.", hint.len ? hint.data : "(none)")));
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key template \"%s\"", tmpl),
				 errdetail("%s.", error)));
	}

	initStringInfo(&buf);
	for (i = 0; i < t.nsegs; i++)
	{
		StrataSegment *seg = &t.segs[i];

		if (i > 0)
			appendStringInfoChar(&buf, ':');
		if (seg->is_placeholder)
		{
			char	   *v = vals[seg->col];

			if (v == NULL)
				PG_RETURN_NULL();
			strata_escape_value(&buf, v, strlen(v));
		}
		else
			appendBinaryStringInfo(&buf, seg->text, seg->len);
	}
	if (t.is_prefix)
		appendStringInfoString(&buf, ":*");
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

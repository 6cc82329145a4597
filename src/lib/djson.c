#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "djson.h"
#include "error.h"

static void
djson_seterr(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

/*
 * Measure the nesting depth without building anything, so a hostile document cannot make
 * the parser recurse or allocate for structure we will refuse anyway. Only strings need
 * care: brackets inside them do not nest. On malformed input the count may be off, but then
 * the real parse fails regardless; on well-formed input it is exact.
 */
static bool
djson_depth_ok(const char *buf, size_t len)
{
	size_t i, depth = 0;
	bool instr = false, esc = false;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (instr) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				instr = false;
			continue;
		}
		switch (c) {
		case '"':
			instr = true;
			break;
		case '[':
		case '{':
			if (++depth > DJSON_MAX_DEPTH)
				return false;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return true;
}

int
djson_parse(const char *buf, size_t len, size_t maxlen, json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v = NULL;
	int rc = DEED_EINVAL;

	if (out == NULL || (buf == NULL && len > 0))
		goto out;
	*out = NULL;

	rc = DEED_ETOOBIG;
	if (len > maxlen) {
		djson_seterr(err, errlen, "JSON document too large");
		goto out;
	}
	if (!djson_depth_ok(buf, len)) {
		djson_seterr(err, errlen, "JSON document nested too deeply");
		goto out;
	}

	/*
	 * RFC 8259 §4 leaves duplicate names to the implementation; two parsers reading
	 * different values from one signed request is how signature checks get bypassed, so
	 * refuse them. Without JSON_DISABLE_EOF_CHECK jansson refuses trailing bytes, and
	 * without JSON_ALLOW_NUL it refuses "\u0000", so strings are safe as C strings.
	 */
	v = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		rc = json_error_code(&jerr) == json_error_out_of_memory ? DEED_ENOMEM
									: DEED_EMALFORMED;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "JSON: %s at line %d column %d", jerr.text, jerr.line,
				 jerr.column);
		goto out;
	}

	*out = v;
	v = NULL;
	rc = DEED_OK;
out:
	json_decref(v);
	return rc;
}

const char *
djson_str(const json_t *obj, const char *key)
{
	const json_t *v;

	if (!json_is_object(obj) || key == NULL)
		return NULL;
	v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

char *
djson_dump(const json_t *v)
{
	if (v == NULL)
		return NULL;
	/*
	 * JSON_COMPACT drops all whitespace and JSON_SORT_KEYS orders members by their bytes,
	 * which is what RFC 7638 §3 asks of the thumbprint input; non-ASCII stays UTF-8 as
	 * RFC 7638 §3 requires, and "/" is not escaped.
	 */
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

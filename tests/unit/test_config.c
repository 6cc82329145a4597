#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"

#define DAY (24 * 3600)

static int
setup(void **state)
{
	struct ca_config *c = malloc(sizeof(*c));

	if (c == NULL || config_defaults(c, "/var/lib/deed") != DEED_OK)
		return -1;
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	config_cleanup(*state);
	free(*state);
	return 0;
}

static int
parse(struct ca_config *c, const char *text, char *err, size_t errlen)
{
	return config_parse(c, text, strlen(text), err, errlen);
}

static void
parse_ok(struct ca_config *c, const char *text)
{
	char err[512] = "";

	if (parse(c, text, err, sizeof(err)) != DEED_OK)
		fail_msg("parse: %s", err);
}

/* Parse text and require rc and exactly the message want. */
static void
parse_fails(struct ca_config *c, const char *text, int rc, const char *want)
{
	char err[512] = "";

	assert_int_equal(parse(c, text, err, sizeof(err)), rc);
	if (want != NULL)
		assert_string_equal(err, want);
}

static void
set_ok(struct ca_config *c, const char *key, const char *value)
{
	char err[512] = "";

	if (config_set(c, key, value, err, sizeof(err)) != DEED_OK)
		fail_msg("%s = %s: %s", key, value, err);
}

static int
set(struct ca_config *c, const char *key, const char *value)
{
	char err[512] = "";

	return config_set(c, key, value, err, sizeof(err));
}

static void
defaults_are_the_documented_values(void **state)
{
	struct ca_config *c = *state;

	assert_string_equal(c->dir, "/var/lib/deed");
	assert_string_equal(c->name, "deed");
	assert_string_equal(c->listen, "127.0.0.1:14443");
	assert_string_equal(c->base_url, "");
	assert_string_equal(c->database, "sqlite:deed-ca.db");
	assert_string_equal(c->dns_resolver, "");
	assert_int_equal(c->http01_port, 80);
	assert_int_equal(c->tlsalpn01_port, 443);
	assert_false(c->allow_loopback);
	assert_int_equal(c->threads, 0);
	assert_int_equal(c->va_workers, 8);
	assert_int_equal(c->validation_timeout, 30);
	assert_int_equal(c->order_lifetime, 7 * DAY);
	assert_int_equal(c->authz_lifetime, 7 * DAY);
	assert_int_equal(c->authz_reuse, 30 * DAY);
	assert_int_equal(c->cert_lifetime, 90 * DAY);
	assert_string_equal(c->terms_of_service, "");
	assert_string_equal(c->website, "");
	assert_int_equal(c->n_caa_identities, 0);
	assert_string_equal(c->challenges, "http-01,dns-01");
}

static void
file_values_override_defaults_and_leave_the_rest(void **state)
{
	struct ca_config *c = *state;

	parse_ok(c, "# a comment\n"
		    "\n"
		    "   # indented comment\n"
		    "name = Test Lab CA\n"
		    "listen=[::1]:8443\n"
		    "\thttp01_port\t=\t5002  \n"
		    "allow_loopback = yes\n"
		    "terms_of_service = https://ca.test/tos#v2\n"
		    "caa_identities = Deed.Test, ca.example\n"
		    "challenges = dns-01 , http-01\n");
	assert_string_equal(c->name, "Test Lab CA");
	assert_string_equal(c->listen, "[::1]:8443");
	assert_int_equal(c->http01_port, 5002);
	assert_true(c->allow_loopback);
	assert_string_equal(c->terms_of_service, "https://ca.test/tos#v2");
	assert_int_equal(c->n_caa_identities, 2);
	assert_string_equal(c->caa_identities[0], "deed.test");
	assert_string_equal(c->caa_identities[1], "ca.example");
	assert_string_equal(c->challenges, "dns-01,http-01");
	assert_int_equal(c->tlsalpn01_port, 443);
	assert_int_equal(c->threads, 0);
	assert_string_equal(c->database, "sqlite:deed-ca.db");
}

static void
crlf_line_ends_bom_and_missing_final_newline_are_accepted(void **state)
{
	struct ca_config *c = *state;

	parse_ok(c, "\xef\xbb\xbfthreads = 9\r\nva_workers = 3");
	assert_int_equal(c->threads, 9);
	assert_int_equal(c->va_workers, 3);
}

static void
durations_take_seconds_or_a_unit_suffix(void **state)
{
	struct ca_config *c = *state;
	static const struct {
		const char *text;
		int seconds;
	} ok[] = {
	    {"7200", 7200},    {"7260s", 7260},	   {"150m", 9000},	{"2h", 7200},
	    {"90d", 90 * DAY}, {"0007d", 7 * DAY}, {"825d", 825 * DAY},
	};
	static const char *const bad[] = {
	    "",
	    "d",
	    "7w",
	    "-1d",
	    "+7d",
	    "1.5d",
	    "7 d",
	    "7dd",
	    "0x10",
	    "1h30m",
	    "99999999999999999999999",
	    "9223372036854775807d",
	    "7199", /* below the 2h minimum */
	    "826d", /* above the 825 d maximum */
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		set_ok(c, "cert_lifetime", ok[i].text);
		assert_int_equal(c->cert_lifetime, ok[i].seconds);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (set(c, "cert_lifetime", bad[i]) != DEED_EMALFORMED)
			fail_msg("cert_lifetime = \"%s\" accepted", bad[i]);
		assert_int_equal(c->cert_lifetime, 825 * DAY); /* unchanged */
	}
	set_ok(c, "authz_reuse", "0");
	assert_int_equal(c->authz_reuse, 0);
	set_ok(c, "validation_timeout", "10m");
	assert_int_equal(c->validation_timeout, 600);
	assert_int_equal(set(c, "validation_timeout", "0"), DEED_EMALFORMED);
	assert_int_equal(set(c, "order_lifetime", "366d"), DEED_EMALFORMED);
}

static void
booleans_take_every_usual_spelling(void **state)
{
	struct ca_config *c = *state;
	static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
	static const char *const no[] = {"false", "no", "off", "0", "False", "OFF"};

	for (size_t i = 0; i < 6; i++) {
		set_ok(c, "allow_loopback", yes[i]);
		assert_true(c->allow_loopback);
		set_ok(c, "allow_loopback", no[i]);
		assert_false(c->allow_loopback);
	}
	assert_int_equal(set(c, "allow_loopback", "maybe"), DEED_EMALFORMED);
	assert_int_equal(set(c, "allow_loopback", "2"), DEED_EMALFORMED);
	assert_int_equal(set(c, "allow_loopback", ""), DEED_EMALFORMED);
}

static void
ports_must_be_1_to_65535(void **state)
{
	struct ca_config *c = *state;

	set_ok(c, "http01_port", "1");
	set_ok(c, "tlsalpn01_port", "65535");
	assert_int_equal(c->tlsalpn01_port, 65535);
	assert_int_equal(set(c, "http01_port", "0"), DEED_EMALFORMED);
	assert_int_equal(set(c, "http01_port", "65536"), DEED_EMALFORMED);
	assert_int_equal(set(c, "http01_port", "80x"), DEED_EMALFORMED);
	assert_int_equal(set(c, "http01_port", "-80"), DEED_EMALFORMED);
	assert_int_equal(c->http01_port, 1);
	set_ok(c, "threads", "0"); /* a thread per connection */
	assert_int_equal(set(c, "threads", "-1"), DEED_EMALFORMED);
	assert_int_equal(set(c, "threads", "257"), DEED_EMALFORMED);
}

static void
unknown_key_is_an_error_naming_the_line(void **state)
{
	struct ca_config *c = *state;

	parse_fails(c, "# comment\nthreads = 2\nfoo = bar\n", DEED_EMALFORMED,
		    "deed-ca.conf:3: unknown key \"foo\"");
	parse_fails(c, "Threads = 2\n", DEED_EMALFORMED, "deed-ca.conf:1: unknown key \"Threads\"");
}

static void
bad_lines_are_errors_naming_the_line(void **state)
{
	struct ca_config *c = *state;

	parse_fails(c, "\n\njust words\n", DEED_EMALFORMED,
		    "deed-ca.conf:3: expected \"key = value\"");
	parse_fails(c, "= 4\n", DEED_EMALFORMED, "deed-ca.conf:1: unknown key \"\"");
	parse_fails(c, "threads = 4\nhttp01_port = 99999\n", DEED_EMALFORMED,
		    "deed-ca.conf:2: http01_port: \"99999\" is not a number from 1 to 65535");
	parse_fails(c, "\n\n\n\nallow_loopback = sure\n", DEED_EMALFORMED,
		    "deed-ca.conf:5: allow_loopback: \"sure\" is not true/false, yes/no, on/off or "
		    "1/0");
	parse_fails(c, "threads = 4 # more\n", DEED_EMALFORMED, NULL);
}

static void
a_key_given_twice_is_an_error(void **state)
{
	struct ca_config *c = *state;

	parse_fails(c, "threads = 2\n# x\nthreads = 3\n", DEED_EMALFORMED,
		    "deed-ca.conf:3: \"threads\" already set on line 1");
}

static void
over_long_values_lines_and_files_are_refused(void **state)
{
	struct ca_config *c = *state;
	char *text = malloc(70 * 1024);
	char err[512] = "";

	assert_non_null(text);
	memset(text, 'a', 1025);
	text[1025] = '\0';
	assert_int_equal(set(c, "website", text), DEED_ETOOBIG);

	memcpy(text, "website = https://", 18);
	memset(text + 18, 'a', 5000);
	text[5018] = '\0';
	assert_int_equal(parse(c, text, err, sizeof(err)), DEED_ETOOBIG);
	assert_non_null(strstr(err, "deed-ca.conf:1: line longer than"));

	memset(text, '\n', 70 * 1024);
	assert_int_equal(config_parse(c, text, 70 * 1024, err, sizeof(err)), DEED_ETOOBIG);
	free(text);
}

static void
nul_bytes_and_control_characters_are_refused(void **state)
{
	struct ca_config *c = *state;
	static const char text[] = "name = a\0b\n";
	char err[512] = "";

	assert_int_equal(config_parse(c, text, sizeof(text) - 1, err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_string_equal(err, "deed-ca.conf:1: NUL byte");
	assert_int_equal(set(c, "name", "a\x1b[31mb"), DEED_EMALFORMED);
	assert_int_equal(set(c, "website", "https://x.test/\x7f"), DEED_EMALFORMED);
}

static void
error_messages_do_not_echo_control_bytes(void **state)
{
	struct ca_config *c = *state;
	char err[512] = "";

	assert_int_equal(parse(c, "\x1b]0;pwned\x07 = 1\n", err, sizeof(err)), DEED_EMALFORMED);
	for (const char *p = err; *p != '\0'; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

static void
name_must_be_short_utf8(void **state)
{
	struct ca_config *c = *state;

	set_ok(c, "name", "Caf\xc3\xa9 Lab");
	set_ok(c, "name", "012345678901234567890123456789012345678901234567"); /* 48 */
	assert_int_equal(set(c, "name", "0123456789012345678901234567890123456789012345678"),
			 DEED_EMALFORMED);
	assert_int_equal(set(c, "name", ""), DEED_EMALFORMED);
	assert_int_equal(set(c, "name", "bad \xc3"), DEED_EMALFORMED);
	assert_int_equal(set(c, "name", "overlong \xc0\xaf"), DEED_EMALFORMED);
	assert_int_equal(set(c, "name", "surrogate \xed\xa0\x80"), DEED_EMALFORMED);
}

static void
listen_must_be_an_ip_literal_with_a_port(void **state)
{
	struct ca_config *c = *state;
	static const char *const bad[] = {"localhost:14443", "127.0.0.1",    "::1:443",
					  "[::1]",	     "[::1]443",     "127.0.0.1:0",
					  "127.0.0.1:70000", ":443",	     "[]:443",
					  "1.2.3.4:443x",    "[1.2.3.4]:443"};

	set_ok(c, "listen", "0.0.0.0:443");
	set_ok(c, "listen", "[2001:db8::1]:8443");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (set(c, "listen", bad[i]) != DEED_EMALFORMED)
			fail_msg("listen = \"%s\" accepted", bad[i]);
	assert_string_equal(c->listen, "[2001:db8::1]:8443");
}

static void
dns_resolver_is_stored_in_the_va_form(void **state)
{
	struct ca_config *c = *state;
	static const struct {
		const char *in, *stored;
	} cases[] = {
	    {"127.0.0.1:5353", "127.0.0.1@5353"},
	    {"[::1]:53", "::1@53"},
	    {"9.9.9.9", "9.9.9.9"},
	    {"2001:db8::0:1", "2001:db8::1"},
	    {"10.0.0.1@53", "10.0.0.1@53"},
	    {"", ""},
	};
	static const char *const bad[] = {"dns.google:53", "1.2.3.4:0", "1.2.3.4@", "[::1]",
					  "1.2.3.4:53:1"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_ok(c, "dns_resolver", cases[i].in);
		assert_string_equal(c->dns_resolver, cases[i].stored);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (set(c, "dns_resolver", bad[i]) != DEED_EMALFORMED)
			fail_msg("dns_resolver = \"%s\" accepted", bad[i]);
}

static void
urls_are_checked(void **state)
{
	struct ca_config *c = *state;

	set_ok(c, "base_url", "https://acme.test:8443/acme/");
	assert_string_equal(c->base_url, "https://acme.test:8443/acme");
	set_ok(c, "base_url", "");
	assert_int_equal(set(c, "base_url", "http://acme.test"), DEED_EMALFORMED);
	assert_int_equal(set(c, "base_url", "https://"), DEED_EMALFORMED);
	assert_int_equal(set(c, "base_url", "https://a b"), DEED_EMALFORMED);
	assert_int_equal(set(c, "base_url", "https://a/?q"), DEED_EMALFORMED);
	set_ok(c, "website", "http://example.test/");
	assert_int_equal(set(c, "website", "ftp://example.test/"), DEED_EMALFORMED);
	assert_int_equal(set(c, "terms_of_service", "example.test"), DEED_EMALFORMED);
	assert_int_equal(set(c, "database", ""), DEED_EMALFORMED);
}

static void
lists_are_checked_deduplicated_and_capped(void **state)
{
	struct ca_config *c = *state;

	set_ok(c, "challenges", "http-01,dns-01,http-01,tls-alpn-01");
	assert_string_equal(c->challenges, "http-01,dns-01,tls-alpn-01");
	set_ok(c, "challenges", "dns-account-01, dns-persist-01");
	assert_int_equal(set(c, "challenges", ""), DEED_EMALFORMED);
	assert_int_equal(set(c, "challenges", "http-02"), DEED_EMALFORMED);
	assert_int_equal(set(c, "challenges", "http-01,,dns-01"), DEED_EMALFORMED);
	assert_int_equal(set(c, "challenges", "dns"), DEED_EMALFORMED);
	assert_string_equal(c->challenges, "dns-account-01,dns-persist-01");

	set_ok(c, "caa_identities", "a.test,A.TEST,b.test");
	assert_int_equal(c->n_caa_identities, 2);
	set_ok(c, "caa_identities", "a,b,c,d,e,f,g,h,i,j");
	assert_int_equal(c->n_caa_identities, 10);
	assert_int_equal(set(c, "caa_identities", "a,b,c,d,e,f,g,h,i,j,k"), DEED_ETOOBIG);
	assert_int_equal(set(c, "caa_identities", "-bad.test"), DEED_EMALFORMED);
	assert_int_equal(set(c, "caa_identities", "bad-.test"), DEED_EMALFORMED);
	assert_int_equal(set(c, "caa_identities", "a..test"), DEED_EMALFORMED);
	assert_int_equal(set(c, "caa_identities", "under_score.test"), DEED_EMALFORMED);
	assert_int_equal(c->n_caa_identities, 10);
	set_ok(c, "caa_identities", "");
	assert_int_equal(c->n_caa_identities, 0);
}

static void
command_line_values_are_trimmed_like_file_values(void **state)
{
	struct ca_config *c = *state;

	set_ok(c, "name", "  Lab  ");
	assert_string_equal(c->name, "Lab");
	assert_int_equal(set(c, "nope", "1"), DEED_EMALFORMED);
}

static void
base_url_is_derived_from_listen(void **state)
{
	struct ca_config *c = *state;
	char out[128];

	assert_int_equal(config_base_url(c, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "https://127.0.0.1:14443");
	set_ok(c, "listen", "[::1]:8443");
	assert_int_equal(config_base_url(c, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "https://[::1]:8443");
	set_ok(c, "listen", "0.0.0.0:443");
	assert_int_equal(config_base_url(c, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "https://localhost");
	set_ok(c, "listen", "[::]:14443");
	assert_int_equal(config_base_url(c, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "https://localhost:14443");
	set_ok(c, "base_url", "https://acme.test/dir");
	assert_int_equal(config_base_url(c, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "https://acme.test/dir");
	assert_int_equal(config_base_url(c, out, 10), DEED_EINVAL);
}

static void
assert_configs_equal(const struct ca_config *a, const struct ca_config *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->listen, b->listen);
	assert_string_equal(a->base_url, b->base_url);
	assert_string_equal(a->database, b->database);
	assert_string_equal(a->dns_resolver, b->dns_resolver);
	assert_int_equal(a->http01_port, b->http01_port);
	assert_int_equal(a->tlsalpn01_port, b->tlsalpn01_port);
	assert_int_equal(a->allow_loopback, b->allow_loopback);
	assert_int_equal(a->threads, b->threads);
	assert_int_equal(a->va_workers, b->va_workers);
	assert_int_equal(a->validation_timeout, b->validation_timeout);
	assert_int_equal(a->order_lifetime, b->order_lifetime);
	assert_int_equal(a->authz_lifetime, b->authz_lifetime);
	assert_int_equal(a->authz_reuse, b->authz_reuse);
	assert_int_equal(a->cert_lifetime, b->cert_lifetime);
	assert_string_equal(a->terms_of_service, b->terms_of_service);
	assert_string_equal(a->website, b->website);
	assert_int_equal(a->n_caa_identities, b->n_caa_identities);
	for (size_t i = 0; i < a->n_caa_identities; i++)
		assert_string_equal(a->caa_identities[i], b->caa_identities[i]);
	assert_string_equal(a->challenges, b->challenges);
}

static void
write_then_load_gives_back_every_value(void **state)
{
	struct ca_config *c = *state, back;
	char dir[] = "/tmp/deed-config-XXXXXX", path[128], err[512] = "";
	struct stat st;

	/* A value other than the default for every key. */
	parse_ok(c, "name = Round Trip\n"
		    "listen = [::1]:9443\n"
		    "base_url = https://rt.test:9443\n"
		    "database = sqlite:/srv/rt.db\n"
		    "dns_resolver = 127.0.0.1:5353\n"
		    "http01_port = 5002\n"
		    "tlsalpn01_port = 5001\n"
		    "allow_loopback = on\n"
		    "threads = 16\n"
		    "va_workers = 2\n"
		    "validation_timeout = 45\n"
		    "order_lifetime = 90m\n"
		    "authz_lifetime = 7h\n"
		    "authz_reuse = 0\n"
		    "cert_lifetime = 160h\n"
		    "terms_of_service = https://rt.test/tos\n"
		    "website = https://rt.test/\n"
		    "caa_identities = rt.test,example.test\n"
		    "challenges = dns-01\n");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/deed-ca.conf", dir);
	assert_int_equal(config_write(c, path), DEED_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(config_defaults(&back, "/elsewhere"), DEED_OK);
	if (config_load(&back, path, err, sizeof(err)) != DEED_OK)
		fail_msg("%s", err);
	assert_configs_equal(c, &back);
	config_cleanup(&back);

	/* Overwriting is atomic and leaves no temporary file behind. */
	assert_int_equal(config_write(c, path), DEED_OK);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static void
written_file_documents_every_key_with_its_default(void **state)
{
	struct ca_config *c = *state;
	static const char *const keys[] = {
	    "name",	      "listen",		"base_url",	      "database",
	    "dns_resolver",   "http01_port",	"tlsalpn01_port",     "allow_loopback",
	    "threads",	      "va_workers",	"validation_timeout", "order_lifetime",
	    "authz_lifetime", "authz_reuse",	"cert_lifetime",      "terms_of_service",
	    "website",	      "caa_identities", "challenges",
	};
	char *text = NULL, want[64];
	size_t len = 0;

	assert_int_equal(config_format(c, &text, &len), DEED_OK);
	assert_int_equal(strlen(text), len);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *at, *prev;

		snprintf(want, sizeof(want), "\n%s =", keys[i]);
		assert_non_null(at = strstr(text, want));
		/* at is the newline ending the line above the key: "# Default: ..." */
		for (prev = at - 1; prev > text && prev[-1] != '\n'; prev--)
			;
		assert_int_equal(strncmp(prev, "# Default: ", 11), 0);
	}
	assert_non_null(strstr(text, "# Default: 90d\ncert_lifetime = 90d\n"));
	assert_non_null(strstr(text, "# Default: (empty)\nbase_url =\n"));
	free(text);
}

static void
load_reports_a_missing_file_with_its_path(void **state)
{
	struct ca_config *c = *state;
	char err[512] = "";

	assert_int_equal(config_load(c, "/nonexistent/deed-ca.conf", err, sizeof(err)), DEED_EIO);
	assert_non_null(strstr(err, "/nonexistent/deed-ca.conf: "));
}

static void
load_names_the_file_in_errors(void **state)
{
	struct ca_config *c = *state;
	char dir[] = "/tmp/deed-config-XXXXXX", path[128], err[512] = "";
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/deed-ca.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("threads = 2\n\nbogus = 1\n", f);
	fclose(f);
	assert_int_equal(config_load(c, path, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "/deed-ca.conf:3: unknown key \"bogus\""));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	unlink(path);
	rmdir(dir);
}

static void
split_hostport_handles_both_forms(void **state)
{
	char host[64];
	int port = 0;

	assert_int_equal(config_split_hostport("[::1]:443", host, sizeof(host), &port), DEED_OK);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 443);
	assert_int_equal(config_split_hostport("ca.test:80", host, sizeof(host), &port), DEED_OK);
	assert_string_equal(host, "ca.test");
	assert_int_equal(config_split_hostport("ca.test:80", host, 4, &port), DEED_EMALFORMED);
	assert_int_equal(config_split_hostport("ca.test", host, sizeof(host), &port),
			 DEED_EMALFORMED);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(defaults_are_the_documented_values),
	    T(file_values_override_defaults_and_leave_the_rest),
	    T(crlf_line_ends_bom_and_missing_final_newline_are_accepted),
	    T(durations_take_seconds_or_a_unit_suffix),
	    T(booleans_take_every_usual_spelling),
	    T(ports_must_be_1_to_65535),
	    T(unknown_key_is_an_error_naming_the_line),
	    T(bad_lines_are_errors_naming_the_line),
	    T(a_key_given_twice_is_an_error),
	    T(over_long_values_lines_and_files_are_refused),
	    T(nul_bytes_and_control_characters_are_refused),
	    T(error_messages_do_not_echo_control_bytes),
	    T(name_must_be_short_utf8),
	    T(listen_must_be_an_ip_literal_with_a_port),
	    T(dns_resolver_is_stored_in_the_va_form),
	    T(urls_are_checked),
	    T(lists_are_checked_deduplicated_and_capped),
	    T(command_line_values_are_trimmed_like_file_values),
	    T(base_url_is_derived_from_listen),
	    T(write_then_load_gives_back_every_value),
	    T(written_file_documents_every_key_with_its_default),
	    T(load_reports_a_missing_file_with_its_path),
	    T(load_names_the_file_in_errors),
	    T(split_hostport_handles_both_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

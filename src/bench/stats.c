#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "error.h"

#define SAMPLES_INITIAL 1024

const char *
bench_kind_name(enum bench_kind k)
{
	static const char *const names[BENCH_K_N] = {
	    [BENCH_K_NONCE] = "newNonce",	  [BENCH_K_ORDER] = "newOrder",
	    [BENCH_K_AUTHZ] = "authz",		  [BENCH_K_CHALL] = "challenge",
	    [BENCH_K_POLL] = "poll",		  [BENCH_K_FINALIZE] = "finalize",
	    [BENCH_K_CERT] = "cert",		  [BENCH_K_DNS] = "dns-update",
	    [BENCH_K_ISSUANCE] = "issuance",	  [BENCH_K_ACCOUNT] = "newAccount",
	};

	return k < BENCH_K_N ? names[k] : "?";
}

static int
samples_reserve(struct bench_samples *s, size_t more)
{
	size_t cap = s->cap > 0 ? s->cap : SAMPLES_INITIAL;
	uint32_t *n;

	if (s->n + more <= s->cap)
		return DEED_OK;
	while (cap < s->n + more)
		cap *= 2;
	if ((n = realloc(s->us, cap * sizeof(*n))) == NULL)
		return DEED_ENOMEM;
	s->us = n;
	s->cap = cap;
	return DEED_OK;
}

void
bench_stats_add(struct bench_stats *st, enum bench_kind k, int64_t us)
{
	struct bench_samples *s = &st->s[k];

	/* Doubling: a run of a million requests reallocates about ten times per kind. */
	if (samples_reserve(s, 1) != DEED_OK)
		return;
	s->us[s->n++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void
err_add(struct bench_stats *st, const char *label, uint64_t n)
{
	size_t i;

	for (i = 0; i < st->n_errs; i++) {
		if (strcmp(st->errs[i].label, label) == 0) {
			st->errs[i].n += n;
			return;
		}
	}
	if (st->n_errs == BENCH_ERR_KINDS) {
		st->other_errs += n;
		return;
	}
	snprintf(st->errs[i].label, sizeof(st->errs[i].label), "%s", label);
	st->errs[i].n = n;
	st->n_errs++;
}

void
bench_stats_error(struct bench_stats *st, const char *label)
{
	err_add(st, label, 1);
}

int
bench_stats_merge(struct bench_stats *into, const struct bench_stats *from)
{
	for (int k = 0; k < BENCH_K_N; k++) {
		const struct bench_samples *f = &from->s[k];

		if (f->n == 0)
			continue;
		if (samples_reserve(&into->s[k], f->n) != DEED_OK)
			return DEED_ENOMEM;
		memcpy(into->s[k].us + into->s[k].n, f->us, f->n * sizeof(*f->us));
		into->s[k].n += f->n;
	}
	for (size_t i = 0; i < from->n_errs; i++)
		err_add(into, from->errs[i].label, from->errs[i].n);
	into->other_errs += from->other_errs;
	into->issued += from->issued;
	into->failed += from->failed;
	into->bad_nonce += from->bad_nonce;
	into->polls += from->polls;
	into->authz_valid_at_order += from->authz_valid_at_order;
	into->ready_at_order += from->ready_at_order;
	return DEED_OK;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least p % of the samples at or below it. */
uint32_t
bench_samples_pct(struct bench_samples *s, double p)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	qsort(s->us, s->n, sizeof(*s->us), cmp_u32);
	rank = (size_t)((p / 100.0) * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->us[rank - 1];
}

void
bench_stats_cleanup(struct bench_stats *st)
{
	for (int k = 0; k < BENCH_K_N; k++)
		free(st->s[k].us);
	memset(st, 0, sizeof(*st));
}

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

int log_verbosity = LOG_INFO;

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	char line[1024], ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if ((int)lvl > log_verbosity)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf so that lines from different threads do not interleave. */
	fprintf(stderr, "%s.%03ldZ %s: %s\n", ts, now.tv_nsec / 1000000, names[lvl], line);
}

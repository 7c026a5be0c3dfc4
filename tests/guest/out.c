/* Output protocol: every line is "guestkit: {JSON}\n", one spinlock so
 * CPUs never interleave, pass/fail counters for the done line. */
#include "lib.h"

volatile u32 n_passed, n_failed;

static spinlock_t out_lock;
static bool deferring;
static char defer_buf[32768];
static size_t defer_len;

void ob_init(struct ob *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->cap = cap;
	o->len = 0;
	buf[0] = 0;
}

static void ob_vprintf(struct ob *o, const char *fmt, va_list ap)
{
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	o->len += vfmt(o->buf + (o->len < o->cap ? o->len : o->cap), room, fmt, ap);
}

void ob_printf(struct ob *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ob_vprintf(o, fmt, ap);
	va_end(ap);
}

/* Stops early (with "...") rather than overflow, leaving 64 bytes for the
 * rest of the line, so a long string cannot make the line invalid JSON. */
void ob_jstr(struct ob *o, const char *s)
{
	ob_printf(o, "\"");
	for (; *s; s++) {
		if (o->len + 64 + 8 > o->cap) {
			ob_printf(o, "...");
			break;
		}
		u8 c = (u8)*s;
		if (c == '"' || c == '\\')
			ob_printf(o, "\\%c", c);
		else if (c == '\n')
			ob_printf(o, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			ob_printf(o, "\\u%04x", c);
		else
			ob_printf(o, "%c", c);
	}
	ob_printf(o, "\"");
}

/* caller holds out_lock */
static void emit_raw(const char *s, size_t n)
{
	if (deferring) {
		if (defer_len + n > sizeof(defer_buf))
			n = sizeof(defer_buf) - defer_len;
		memcpy(defer_buf + defer_len, s, n);
		defer_len += n;
	} else {
		serial_write(s, n);
	}
}

void ob_emit(struct ob *o)
{
	size_t n = o->len < o->cap ? o->len : o->cap - 1;
	if (o->len >= o->cap) {
		/* keep the line valid JSON even when it did not fit */
		static const char tail[] = "\"truncated\":true}";
		size_t t = sizeof(tail) - 1;
		while (n > t && o->buf[n - 1] != ',')
			n--;
		if (n > t) {
			memcpy(o->buf + n, tail, t);
			n += t;
		}
	}
	spin_lock(&out_lock);
	emit_raw("guestkit: ", 10);
	emit_raw(o->buf, n);
	emit_raw("\n", 1);
	spin_unlock(&out_lock);
}

void out(const char *fmt, ...)
{
	char buf[2048];
	struct ob o;
	va_list ap;
	ob_init(&o, buf, sizeof(buf));
	va_start(ap, fmt);
	ob_vprintf(&o, fmt, ap);
	va_end(ap);
	ob_emit(&o);
}

void check_begin(struct ob *o, const char *name, bool ok)
{
	__atomic_fetch_add(ok ? &n_passed : &n_failed, 1, __ATOMIC_RELAXED);
	ob_printf(o, "{\"check\":\"%s\",\"ok\":%s", name, ok ? "true" : "false");
}

void check_end(struct ob *o)
{
	ob_printf(o, "}");
	ob_emit(o);
}

/* extra: raw JSON members appended after "ok", e.g. ",\"n\":%d" */
void check(const char *name, bool ok, const char *extra, ...)
{
	char buf[2048];
	struct ob o;
	ob_init(&o, buf, sizeof(buf));
	check_begin(&o, name, ok);
	if (extra) {
		va_list ap;
		va_start(ap, extra);
		ob_vprintf(&o, extra, ap);
		va_end(ap);
	}
	check_end(&o);
}

/* A check that cannot run on this machine: neither passed nor failed. */
void skip(const char *name, const char *reason)
{
	char buf[512];
	struct ob o;
	ob_init(&o, buf, sizeof(buf));
	ob_printf(&o, "{\"check\":\"%s\",\"skip\":true,\"reason\":", name);
	ob_jstr(&o, reason);
	ob_printf(&o, "}");
	ob_emit(&o);
}

void out_defer(bool on)
{
	spin_lock(&out_lock);
	deferring = on;
	if (!on) {
		serial_write(defer_buf, defer_len);
		defer_len = 0;
	}
	spin_unlock(&out_lock);
}

/* Fatal path: take the lock if its holder lets go soon, else break it
 * (the holder may be the CPU that faulted), and flush deferred lines. */
void out_recover(void)
{
	u64 end = rdtsc() + ms_to_tsc(200);
	while (!spin_trylock(&out_lock) && rdtsc() < end)
		cpu_relax();
	if (deferring)
		serial_write(defer_buf, defer_len);
	deferring = false;
	defer_len = 0;
	spin_unlock(&out_lock);
}

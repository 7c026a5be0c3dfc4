/* Freestanding libc subset: memory/string helpers and a small formatter
 * (%d %i %u %x %X %s %c %p %%, flags '-' '0', width, l/ll/z). */
#include "lib.h"

/* rep movsb/stosb: native speed at CPL3, and GCC cannot turn them back
 * into calls to memcpy/memset (which a plain loop here would become). */
void *memcpy(void *d, const void *s, size_t n)
{
	void *r = d;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
	return r;
}

void *memmove(void *d, const void *s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;
	if (dp < sp)
		return memcpy(d, s, n);
	while (n--)		/* backwards; -fno-tree-loop-distribute-patterns keeps it a loop */
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	void *r = d;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return r;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			break;
	}
	return 0;
}

size_t strlcpy(char *d, const char *s, size_t n)
{
	size_t len = strlen(s);
	if (n) {
		size_t c = len < n - 1 ? len : n - 1;
		memcpy(d, s, c);
		d[c] = 0;
	}
	return len;
}

/* decimal, or hex with a 0x prefix */
u64 strtou64(const char *s, const char **end)
{
	u64 v = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (s += 2;; s++) {
			int d;
			if (*s >= '0' && *s <= '9') d = *s - '0';
			else if (*s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
			else if (*s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
			else break;
			v = v * 16 + d;
		}
	} else {
		for (; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (*s - '0');
	}
	if (end)
		*end = s;
	return v;
}

struct sink {
	char *buf;
	size_t n, pos;
};

static void put(struct sink *k, char c)
{
	if (k->pos + 1 < k->n)
		k->buf[k->pos] = c;
	k->pos++;
}

static void put_padded(struct sink *k, const char *s, size_t len, int width, bool left, char pad)
{
	int fill = width > (int)len ? width - (int)len : 0;
	if (!left)
		while (fill-- > 0)
			put(k, pad);
	while (len--)
		put(k, *s++);
	if (left)
		while (fill-- > 0)
			put(k, ' ');
}

int vfmt(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct sink k = { buf, n, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&k, *fmt);
			continue;
		}
		bool left = false;
		char pad = ' ';
		int width = 0, lng = 0;
		for (fmt++; *fmt == '-' || *fmt == '0'; fmt++) {
			if (*fmt == '-') left = true;
			else pad = '0';
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng++;
		char tmp[24];
		size_t len = 0;
		u64 v;
		bool neg = false;
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			neg = s < 0;
			v = neg ? -(u64)s : (u64)s;
			goto dec;
		}
		case 'u':
			v = lng ? va_arg(ap, u64) : va_arg(ap, unsigned);
		dec:
			do {
				tmp[sizeof(tmp) - 1 - len++] = '0' + v % 10;
				v /= 10;
			} while (v);
			if (neg)
				tmp[sizeof(tmp) - 1 - len++] = '-';
			put_padded(&k, tmp + sizeof(tmp) - len, len, width, left, pad);
			break;
		case 'p':
			put(&k, '0');
			put(&k, 'x');
			v = (u64)va_arg(ap, void *);
			goto hex;
		case 'x':
		case 'X':
			v = lng ? va_arg(ap, u64) : va_arg(ap, unsigned);
		hex:
			do {
				tmp[sizeof(tmp) - 1 - len++] =
					(*fmt == 'X' ? "0123456789ABCDEF" : "0123456789abcdef")[v & 15];
				v >>= 4;
			} while (v);
			put_padded(&k, tmp + sizeof(tmp) - len, len, width, left, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			put_padded(&k, s, strlen(s), width, left, ' ');
			break;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_padded(&k, tmp, 1, width, left, ' ');
			break;
		case '%':
			put(&k, '%');
			break;
		default:
			put(&k, '%');
			if (!*fmt)
				goto out;
			put(&k, *fmt);
		}
	}
out:
	if (n)
		buf[k.pos < n ? k.pos : n - 1] = 0;
	return (int)k.pos;
}

int sfmt(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfmt(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

// SPDX-License-Identifier: MIT
/* "key=value" lookups in the command line the loader passed. */
#include "kit.h"

/* Finds `key` as a whole word (alone or followed by '='); copies its value. */
bool kit_arg(const char *key, char *val, size_t size)
{
	const char *p = kit_cmdline();
	size_t klen = strlen(key);

	while (*p) {
		const char *tok;
		size_t n = 0;

		while (*p == ' ')
			p++;
		tok = p;
		while (*p && *p != ' ')
			p++;
		if (p - tok < (long)klen || strncmp(tok, key, klen) || (tok[klen] != '=' && tok + klen != p))
			continue;
		tok += klen + (tok[klen] == '=');
		while (tok < p && n + 1 < size)
			val[n++] = *tok++;
		if (size)
			val[n] = 0;
		return true;
	}
	return false;
}

/* Decimal, or hex with 0x; the default when absent or malformed. */
unsigned long kit_arg_ulong(const char *key, unsigned long def)
{
	char buf[32], *p = buf;
	unsigned long v = 0, base = 10;

	if (!kit_arg(key, buf, sizeof(buf)) || !*buf)
		return def;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!*p)
		return def;
	for (; *p; p++) {
		unsigned long d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
			d = (*p | 0x20) - 'a' + 10;
		else
			return def;
		v = v * base + d;
	}
	return v;
}

/* Addresses as the kernel programs store them: 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
#ifndef XTRACE_ADDR_H
#define XTRACE_ADDR_H

static __always_inline void map_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

#endif

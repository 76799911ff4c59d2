/* Log2 histogram buckets of nanoseconds, as bcc's tools draw them: bucket b holds [2^(b-1), 2^b) ns,
 * bucket 0 holds 0; the last bucket takes everything above it. */
#ifndef XTRACE_LOG2_H
#define XTRACE_LOG2_H

/* floor(log2(v)) + 1 for v > 0, 0 for 0, capped at `last`. */
static __always_inline __u32 xt_log2_bucket(__u64 v, __u32 last)
{
	__u32 b = 0;

	if (v >= (1ULL << 32)) { v >>= 32; b += 32; }
	if (v >= (1ULL << 16)) { v >>= 16; b += 16; }
	if (v >= (1ULL << 8)) { v >>= 8; b += 8; }
	if (v >= (1ULL << 4)) { v >>= 4; b += 4; }
	if (v >= (1ULL << 2)) { v >>= 2; b += 2; }
	if (v >= (1ULL << 1)) { v >>= 1; b += 1; }
	b += v; /* v is 0 or 1 here */
	return b < last ? b : last;
}

#endif

/* Per-CPU counters, one rule for every program (DESIGN.md): a per-CPU slot is updated with an atomic
 * add wherever a program in process context can be interrupted on its CPU by one in softirq touching the
 * same slot (cgroup_skb egress under a sending process, tracepoints in process context, a read);
 * XDP and TC ingress run in softirq, TC egress with BH off, so plain adds are exact there (flow.bpf.c
 * uses plain adds and says so). */
#ifndef XTRACE_COUNTERS_H
#define XTRACE_COUNTERS_H

#include <bpf/bpf_helpers.h>

/* Adds `n` to slot `idx` of a per-CPU array of u64, atomically. */
static __always_inline void xt_count(void *map, __u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(map, &idx);

	if (v)
		__sync_fetch_and_add(v, n);
}

#endif

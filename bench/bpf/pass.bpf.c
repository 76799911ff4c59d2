// SPDX-License-Identifier: GPL-2.0
/* Benchmark baseline: an XDP program that does nothing, to separate the cost of having XDP on a
 * device (on veth it switches the receive path and turns off the peer's GSO) from xtrace's work. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xt_bench_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

/* The same for TC: lets the packet go on untouched. */
SEC("tc")
int xt_bench_tc_pass(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC */
}

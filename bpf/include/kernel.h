/* The kernel structs the stack and limit programs read, as CO-RE relocatable subsets: only the fields
 * used, with the kernel's names; libbpf relocates each access against the running kernel's BTF, so one
 * object serves kernels whose layouts differ. A program reads them through bpf_probe_read_kernel (or
 * BPF_CORE_READ), which every hook type may. */
#ifndef XTRACE_KERNEL_H
#define XTRACE_KERNEL_H

#include <linux/in6.h>

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct sock;

struct sk_buff {
	unsigned int len;
	__u16 protocol;
	__u16 transport_header;
	__u16 network_header;
	unsigned char *head;
	unsigned char *data;
	struct net_device *dev;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct sock_common {
	possible_net_t skc_net;
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

/* A netfilter program's context (include/net/netfilter/nf_bpf_link.h). */
struct xt_nf_ctx {
	const void *state;
	struct sk_buff *skb;
};

#endif

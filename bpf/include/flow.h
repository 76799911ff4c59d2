/* Structures that cross the kernel/user boundary for bpf/flow.bpf.c.
 * This header is the single source of truth: src/bpf/layout.ts mirrors it and
 * test/unit/layout.test.ts checks that mirror against the BTF of the built object. */
#ifndef XTRACE_FLOW_H
#define XTRACE_FLOW_H

/* Constants userspace needs too: an enum, so the object's BTF carries them (the layout test checks
 * src/modes/xdp/layout.ts and src/capture/cbpf.ts against it). */
enum xt_flow_const {
	XT_MAX_WATCH = 256,
	XT_MAX_IFACES = 16,  /* interfaces one run attaches to; `stats` has one more slot for any other */
	XT_ICMP_NONE = 255,  /* icmp_type/icmp_code when the ICMP header was not seen (fragment, truncated) */
	/* Bytes of a packet the filter sees and a capture keeps at most: a 9018-byte jumbo frame, plus the
	 * VLAN tag TC gets as metadata and puts back, rounded up. */
	XT_CAP_MAX = 9216,
	/* The instruction `r0 = XT_FILTER_MARK` in each program: userspace replaces it with a jump to the
	 * translated --filter expression (classic BPF from libpcap), which jumps back with r0 = its verdict. */
	XT_FILTER_MARK = 0x7f1173a1,
};

enum xt_dir { XT_DIR_INGRESS = 0, XT_DIR_EGRESS = 1 };

/* What carried the packet. IP protocol numbers stay in `proto`. XT_KIND_ETHER is for packet-log
 * events only: a frame that is not IP or RoCE (ARP, LLDP, PPPoE, MPLS, 802.3 LLC, ...) or whose IP
 * header is malformed; its src and dst hold the MAC addresses, `ethertype` its type. */
enum xt_kind { XT_KIND_IP = 0, XT_KIND_ROCE_V1 = 1, XT_KIND_ROCE_V2 = 2, XT_KIND_ETHER = 3 };

/* Addresses are 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), RoCE v1 as GIDs. */
struct xt_flow_key {
	__u8 src[16];
	__u8 dst[16];
	__u32 ifindex;
	__u16 sport; /* host byte order; 0 when the protocol has none or for non-first fragments */
	__u16 dport;
	__u8 proto;  /* IP protocol number (0 for RoCE v1) */
	__u8 dir;    /* enum xt_dir */
	__u8 kind;   /* enum xt_kind */
	__u8 family; /* 4 or 6 */
	__u16 vlan;  /* VLAN id of the outer 802.1Q/802.1ad tag, 0 when untagged */
	__u8 icmp_type; /* ICMP and ICMPv6 only (0 otherwise); XT_ICMP_NONE when not seen */
	__u8 icmp_code;
};

struct xt_flow_val {
	__u64 packets;
	__u64 bytes;    /* L2 frame length, no FCS */
	__u64 first_ns; /* bpf_ktime_get_ns(), 0 on CPUs that never saw the flow */
	__u64 last_ns;
	__u8 tcp_flags; /* OR of the TCP flags seen */
	__u8 pad[7];
};

struct xt_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct xt_ip_val {
	__u64 in_packets;  /* destination is the watched address */
	__u64 in_bytes;
	__u64 out_packets; /* source is the watched address */
	__u64 out_bytes;
};

struct xt_event {
	__u64 ts_ns;
	__u8 src[16];
	__u8 dst[16];
	__u32 ifindex;
	__u32 len; /* L2 frame length */
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 dir;
	__u8 kind;
	__u8 family;
	__u8 tcp_flags;
	__u8 roce_opcode;
	__u16 segs;    /* wire frames this event stands for: > 1 for a GSO packet at TC */
	__u32 roce_qp; /* destination QP, 24 bits */
	__u16 vlan;
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 ethertype; /* after any VLAN tags (a value below 0x600 is an 802.3 length) */
	__u16 pad;
};

/* Counters in the per-CPU `stats` array, one u64 each, one entry per attached interface
 * (the slot of its ifindex in xt_config.ifindex) and one (XT_MAX_IFACES) for any other. */
enum xt_stat {
	XT_STAT_RX_PACKETS = 0,
	XT_STAT_RX_BYTES,
	XT_STAT_TX_PACKETS,
	XT_STAT_TX_BYTES,
	XT_STAT_NON_IP,      /* frames that are neither IP nor RoCE v1 */
	XT_STAT_FRAGMENTS,   /* non-first IP fragments */
	XT_STAT_TRUNCATED,   /* headers cut short: counted, not parsed further */
	XT_STAT_FLOWS_CREATED,
	XT_STAT_FLOW_FAILED, /* flow table insert failed */
	XT_STAT_EV_SENT,
	XT_STAT_EV_SUPPRESSED, /* over --rate-limit */
	XT_STAT_EV_DROPPED,    /* ring buffer full */
	XT_STAT_CAP_SENT,      /* packets captured (-w) */
	XT_STAT_CAP_DROPPED,   /* captures the packets ring had no room for */
	XT_STAT_FILTERED,      /* packets the --filter expression passed */
	XT_STAT_MAX = 16,
};

struct xt_stats {
	__u64 v[XT_STAT_MAX];
};

/* Load-time settings, `const volatile` in .rodata, written between open and load. */
struct xt_config {
	__u32 watch_count;  /* entries in the watch LPM trie; 0 skips the lookups */
	__u32 rate_limit;   /* packet-log events per second, 0 = unlimited */
	__u8 log_enabled;
	__u8 cfg_pad0[3];
	__u32 ifindex[XT_MAX_IFACES]; /* the interfaces in `stats` slot order, 0-terminated */
	__u8 filter;        /* 1: a --filter expression was spliced in (xt_pcap_filter); it gates log and capture */
	__u8 capture;       /* 1: matching packets go to the `packets` ring (-w) */
	__u16 cfg_pad;
	__u32 snaplen;      /* bytes of each captured packet, 1..XT_CAP_MAX */
	__u32 copy_bytes;   /* bytes copied of each packet: what the filter can read, and snaplen with -w; 1..XT_CAP_MAX */
	__u32 cap_wake;     /* -w: wake the reader when the `packets` ring's backlog crosses this many bytes */
};


/* -w: each record of the `packets` ring is one whole pcapng Enhanced Packet Block (draft-ietf-opsawg-pcapng
 * section 4.3), written by the kernel in host byte order (the section header's byte-order magic says
 * which): this fixed part, caplen bytes of the packet padded to 4, then struct xt_epb_tail. Userspace
 * writes the records to the file as they are. */
enum xt_epb_const {
	XT_EPB_TYPE = 6,
	XT_EPB_OPT_FLAGS = 2,   /* epb_flags: 4 bytes, bits 0-1 the direction */
	XT_EPB_INBOUND = 1,
	XT_EPB_OUTBOUND = 2,
};

struct xt_epb {
	__u32 block_type;   /* XT_EPB_TYPE */
	__u32 block_len;    /* the whole block's length, repeated in the tail */
	__u32 iface_id;     /* the interface's place in -i's list: its Interface Description Block */
	__u32 ts_high;      /* nanoseconds since the epoch (if_tsresol 9), high and low halves */
	__u32 ts_low;
	__u32 caplen;       /* bytes of the packet that follow */
	__u32 len;          /* the packet's length on the wire (original length) */
};

struct xt_epb_tail {
	__u16 opt_code;     /* XT_EPB_OPT_FLAGS */
	__u16 opt_len;      /* 4 */
	__u32 flags;        /* XT_EPB_INBOUND or XT_EPB_OUTBOUND */
	__u32 opt_end;      /* opt_endofopt: 0 */
	__u32 block_len;
};

/* Per-CPU scratch: the block's fixed part, the packet's first bytes (the tail is written after the
 * padded bytes, over the start of mem[] when the copy is full: the filter has run by then), the
 * filter's scratch memory M[]. */
struct xt_cap {
	struct xt_epb epb;
	__u8 data[XT_CAP_MAX];
	__u32 mem[16];
	__u32 wire_len; /* the packet's length, kept here by a filter whose r3 counts a loop's rounds */
	__u32 x_spill;  /* X and the copy's length, stored and loaded back at each round of such a loop */
	__u32 n_spill;
	__u32 a_spill;  /* A, likewise, on the way into a loop */
};

#endif

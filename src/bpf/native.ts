/**
 * The one place that loads native libraries. Everything above src/bpf/ sees typed values only.
 * libbpf.so.1 (>= 1.0 semantics: functions return -errno or NULL with errno set).
 *
 * Both the libraries and each function are bound on first use: `xtrace --help` and the sysfs modes
 * need no libbpf, and a function an older libbpf lacks is a refusal with a reason where it is called
 * (see `missingSymbol`), not a crash at import.
 */
import koffi from 'koffi';
import { featureError } from '../errors.js';

export type Ptr = bigint;
/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;
type Lib = ReturnType<typeof koffi.load>;

function loader(name: string, hint: string): () => Lib {
  let l: Lib | null = null;
  return () => {
    if (!l)
      try {
        l = koffi.load(name);
      } catch (e) {
        throw featureError(`cannot load ${name} (${(e as Error).message.split('\n')[0]}); ${hint}`);
      }
    return l;
  };
}

/** Thrown when the loaded library has no such function (an older libbpf). */
export class MissingSymbol extends Error {
  constructor(readonly symbol: string, lib: string) {
    super(`${lib} has no ${symbol} (too old)`);
  }
}

/** An object whose functions are bound from `lib` the first time each is called. */
function lazyFuncs<T extends Record<string, string>>(libName: string, load: () => Lib, decls: T, prelude?: (l: Lib) => void): { [K in keyof T]: Fn } {
  const out = {} as { [K in keyof T]: Fn };
  let ready = false;
  for (const [key, decl] of Object.entries(decls) as Array<[keyof T, string]>) {
    let f: Fn | null = null;
    out[key] = (...args: unknown[]) => {
      if (!f) {
        const l = load();
        if (!ready && prelude) prelude(l);
        ready = true;
        const symbol = /([A-Za-z_0-9]+)\s*\(/.exec(decl)![1]!;
        try {
          f = l.func(decl) as Fn;
        } catch {
          throw new MissingSymbol(symbol, libName);
        }
      }
      return f(...args);
    };
  }
  return out;
}

const libbpf = loader('libbpf.so.1', 'install libbpf 1.0 or newer (Debian/Ubuntu: apt-get install libbpf1)');
const libcLoad = loader('libc.so.6', 'glibc is required');

let PrintFn: ReturnType<typeof koffi.proto> | null = null;

export const lib = lazyFuncs(
  'libbpf.so.1',
  libbpf,
  {
    major: 'uint32_t libbpf_major_version(void)',
    minor: 'uint32_t libbpf_minor_version(void)',
    setPrint: 'void *libbpf_set_print(xt_libbpf_print_fn *fn)',
    numPossibleCpus: 'int libbpf_num_possible_cpus(void)',
    probeProgType: 'int libbpf_probe_bpf_prog_type(int type, const void *opts)',
    probeMapType: 'int libbpf_probe_bpf_map_type(int type, const void *opts)',
    probeHelper: 'int libbpf_probe_bpf_helper(int prog_type, int helper_id, const void *opts)',
    objOpenFile: 'void *bpf_object__open_file(const char *path, const void *opts)',
    objLoad: 'int bpf_object__load(void *obj)',
    objClose: 'void bpf_object__close(void *obj)',
    objFindMap: 'void *bpf_object__find_map_by_name(void *obj, const char *name)',
    objFindProg: 'void *bpf_object__find_program_by_name(void *obj, const char *name)',
    objNextProg: 'void *bpf_object__next_program(const void *obj, void *prev)',
    progName: 'const char *bpf_program__name(const void *prog)',
    mapFd: 'int bpf_map__fd(void *map)',
    mapSetMaxEntries: 'int bpf_map__set_max_entries(void *map, uint32_t n)',
    mapValueSize: 'uint32_t bpf_map__value_size(void *map)',
    mapKeySize: 'uint32_t bpf_map__key_size(void *map)',
    mapMaxEntries: 'uint32_t bpf_map__max_entries(void *map)',
    mapInitialValue: 'void *bpf_map__initial_value(void *map, _Out_ size_t *psize)',
    mapSetInitialValue: 'int bpf_map__set_initial_value(void *map, const void *data, size_t size)',
    progFd: 'int bpf_program__fd(void *prog)',
    progInsns: 'const void *bpf_program__insns(const void *prog)',
    progInsnCnt: 'size_t bpf_program__insn_cnt(const void *prog)',
    progSetInsns: 'int bpf_program__set_insns(void *prog, const uint8_t *insns, size_t cnt)',
    progSetAutoload: 'int bpf_program__set_autoload(void *prog, bool autoload)',
    progSetType: 'int bpf_program__set_type(void *prog, int type)',
    progSetExpectedAttachType: 'int bpf_program__set_expected_attach_type(void *prog, int type)',
    progAttach: 'void *bpf_program__attach(const void *prog)',
    bpfLinkFd: 'int bpf_link__fd(const void *link)',
    iterCreate: 'int bpf_iter_create(int link_fd)',
    bpfLinkDestroy: 'int bpf_link__destroy(void *link)',
    linkCreate: 'int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)',
    progGetFdById: 'int bpf_prog_get_fd_by_id(uint32_t id)',
    progTestRun: 'int bpf_prog_test_run_opts(int prog_fd, _Inout_ uint8_t *opts)',
    objGetInfoByFd: 'int bpf_obj_get_info_by_fd(int fd, _Inout_ uint8_t *info, _Inout_ uint32_t *len)',
    lookupBatch: 'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const void *opts)',
    getNextKey: 'int bpf_map_get_next_key(int fd, const void *key, void *next_key)',
    lookupElem: 'int bpf_map_lookup_elem(int fd, const void *key, void *value)',
    updateElem: 'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
    deleteElem: 'int bpf_map_delete_elem(int fd, const void *key)',
    tcHookCreate: 'int bpf_tc_hook_create(void *hook)',
    tcHookDestroy: 'int bpf_tc_hook_destroy(void *hook)',
    tcAttach: 'int bpf_tc_attach(const void *hook, void *opts)',
    tcDetach: 'int bpf_tc_detach(const void *hook, const void *opts)',
    progQuery: 'int bpf_prog_query_opts(int target, int type, void *opts)',
    xdpQuery: 'int bpf_xdp_query(int ifindex, int flags, void *opts)',
    btfLoadVmlinux: 'void *btf__load_vmlinux_btf(void)',
    btfFindByNameKind: 'int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)',
    btfFree: 'void btf__free(void *btf)',
    btfTypeById: 'const void *btf__type_by_id(const void *btf, uint32_t id)',
    btfNameByOffset: 'const char *btf__name_by_offset(const void *btf, uint32_t off)',
  },
  () => {
    PrintFn ??= koffi.proto('int xt_libbpf_print_fn(int level, const char *fmt, void *args)');
  },
);

export const c = lazyFuncs('libc.so.6', libcLoad, {
  close: 'int close(int fd)',
  open: 'int open(const char *path, int flags)',
  mmap: 'void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)',
  munmap: 'int munmap(void *addr, size_t len)',
  /* struct iovec { void *iov_base; size_t iov_len; }[iovcnt], 16 bytes each, filled in by src/bpf/iov.ts */
  writev: 'long writev(int fd, const uint8_t *iov, int iovcnt)',
  /* an edge-triggered watch of a ring buffer's fd (src/bpf/ringbuf.ts); struct epoll_event is 12 bytes on x86_64, 16 elsewhere */
  epollCreate1: 'int epoll_create1(int flags)',
  epollCtl: 'int epoll_ctl(int epfd, int op, int fd, const uint8_t *event)',
  epollWait: 'int epoll_wait(int epfd, _Out_ uint8_t *events, int maxevents, int timeout)',
  strerror: 'const char *strerror(int errnum)',
  vsnprintf: 'int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *args)',
  getpagesize: 'int getpagesize(void)',
  malloc: 'void *malloc(size_t n)',
  free: 'void free(void *p)',
  /* bpf(2) where libbpf has no wrapper for a command's fields (netfilter links on libbpf 1.1) */
  syscall3: 'long syscall(long number, long a1, _Inout_ uint8_t *a2, unsigned int a3)',
  /* struct timespec { long tv_sec; long tv_nsec; } into 16 bytes */
  clockGettime: 'int clock_gettime(int clk, _Out_ uint8_t *ts)',
  setns: 'int setns(int fd, int nstype)',
  /* netlink (RDMA) and the ethtool ioctl */
  socket: 'int socket(int domain, int type, int protocol)',
  setsockopt: 'int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)',
  send: 'long send(int fd, const uint8_t *buf, size_t len, int flags)',
  recv: 'long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)',
  ioctl: 'int ioctl(int fd, unsigned long req, _Inout_ uint8_t *arg)',
});

const libpcapLoad = loader('libpcap.so.0.8', 'install libpcap (Debian/Ubuntu: apt-get install libpcap0.8, or libpcap0.8t64 on Debian 13)');

/** libpcap, for compiling filter expressions (no capture handle: pcap_open_dead). */
export const pcap = lazyFuncs('libpcap.so.0.8', libpcapLoad, {
  openDead: 'void *pcap_open_dead(int linktype, int snaplen)',
  /* struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; }: 16 bytes, filled in */
  compile: 'int pcap_compile(void *p, _Inout_ uint8_t *prog, const char *expr, int optimize, uint32_t netmask)',
  geterr: 'const char *pcap_geterr(void *p)',
  freecode: 'void pcap_freecode(_Inout_ uint8_t *prog)',
  close: 'void pcap_close(void *p)',
  libVersion: 'const char *pcap_lib_version(void)',
});

export const MAP_FAILED = (1n << 64n) - 1n;

/** The socket families and types the binding opens (netlink, the ethtool ioctl's). */
export const SOCK = { AF_INET: 2, AF_NETLINK: 16, DGRAM: 2, RAW: 3, CLOEXEC: 0o2000000 } as const;
/** A socket, close-on-exec; a negative errno when refused. */
export const socketFd = (family: number, type: number, protocol: number): number => {
  const fd = c.socket(family, type | SOCK.CLOEXEC, protocol) as number;
  return fd < 0 ? -errno() : fd;
};
export const errno = (): number => koffi.errno();
export const strerror = (err: number): string => String(c.strerror(Math.abs(err)));
export const view = (p: Ptr, len: number): ArrayBuffer => koffi.view(p, len);
/** The address a native pointer holds (to write into a struct the kernel follows). */
export const address = (p: Ptr): bigint => koffi.address(p) as bigint;
/** A C callback for libbpf_set_print. */
export function registerPrint(fn: (level: number, fmt: string, args: Ptr) => number): Ptr {
  libbpf();
  PrintFn ??= koffi.proto('int xt_libbpf_print_fn(int level, const char *fmt, void *args)');
  return koffi.register(fn, koffi.pointer(PrintFn));
}
/* eslint-enable @typescript-eslint/no-explicit-any */

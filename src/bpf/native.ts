/**
 * The one place that loads native libraries. Everything above src/bpf/ sees typed values only.
 * libbpf.so.1 (>= 1.0 semantics: functions return -errno or NULL with errno set).
 */
import koffi from 'koffi';
import { featureError } from '../errors.js';

export type Ptr = bigint;

function loadLib(name: string, hint: string): ReturnType<typeof koffi.load> {
  try {
    return koffi.load(name);
  } catch (e) {
    throw featureError(`cannot load ${name} (${(e as Error).message.split('\n')[0]}); ${hint}`);
  }
}

const bpfLib = loadLib('libbpf.so.1', 'install libbpf 1.0 or newer (Debian/Ubuntu: apt-get install libbpf1)');
const libc = loadLib('libc.so.6', 'glibc is required');

const PrintFn = koffi.proto('int xt_libbpf_print_fn(int level, const char *fmt, void *args)');

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;
const f = (decl: string): Fn => bpfLib.func(decl) as Fn;

export const lib = {
  major: f('uint32_t libbpf_major_version(void)'),
  minor: f('uint32_t libbpf_minor_version(void)'),
  setPrint: f('void *libbpf_set_print(xt_libbpf_print_fn *fn)'),
  numPossibleCpus: f('int libbpf_num_possible_cpus(void)'),
  probeProgType: f('int libbpf_probe_bpf_prog_type(int type, const void *opts)'),
  probeMapType: f('int libbpf_probe_bpf_map_type(int type, const void *opts)'),
  objOpenFile: f('void *bpf_object__open_file(const char *path, const void *opts)'),
  objLoad: f('int bpf_object__load(void *obj)'),
  objClose: f('void bpf_object__close(void *obj)'),
  objFindMap: f('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
  objFindProg: f('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
  mapFd: f('int bpf_map__fd(void *map)'),
  mapSetMaxEntries: f('int bpf_map__set_max_entries(void *map, uint32_t n)'),
  mapValueSize: f('uint32_t bpf_map__value_size(void *map)'),
  mapKeySize: f('uint32_t bpf_map__key_size(void *map)'),
  mapMaxEntries: f('uint32_t bpf_map__max_entries(void *map)'),
  mapInitialValue: f('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)'),
  mapSetInitialValue: f('int bpf_map__set_initial_value(void *map, const void *data, size_t size)'),
  progFd: f('int bpf_program__fd(void *prog)'),
  progSetAutoload: f('int bpf_program__set_autoload(void *prog, bool autoload)'),
  linkCreate: f('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)'),
  lookupBatch: f('int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const void *opts)'),
  getNextKey: f('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
  lookupElem: f('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  updateElem: f('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  tcHookCreate: f('int bpf_tc_hook_create(void *hook)'),
  tcHookDestroy: f('int bpf_tc_hook_destroy(void *hook)'),
  tcAttach: f('int bpf_tc_attach(const void *hook, void *opts)'),
  tcDetach: f('int bpf_tc_detach(const void *hook, const void *opts)'),
  progQuery: f('int bpf_prog_query_opts(int target, int type, void *opts)'),
  xdpQuery: f('int bpf_xdp_query(int ifindex, int flags, void *opts)'),
};

export const c = {
  close: libc.func('int close(int fd)') as Fn,
  mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)') as Fn,
  munmap: libc.func('int munmap(void *addr, size_t len)') as Fn,
  strerror: libc.func('const char *strerror(int errnum)') as Fn,
  vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *args)') as Fn,
  getpagesize: libc.func('int getpagesize(void)') as Fn,
};

export const MAP_FAILED = (1n << 64n) - 1n;
export const errno = (): number => koffi.errno();
export const strerror = (err: number): string => String(c.strerror(Math.abs(err)));
export const view = (p: Ptr, len: number): ArrayBuffer => koffi.view(p, len);
export const register = (fn: (...a: any[]) => number): Ptr => koffi.register(fn, koffi.pointer(PrintFn));
/* eslint-enable @typescript-eslint/no-explicit-any */

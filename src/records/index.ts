/**
 * The JSON contract (`-o json`, DESIGN.md): one type per record. output/ and export/ import these and
 * nothing of the modes; a mode builds them.
 */
export * from './xdp.js';
export * from './rdma.js';
export * from './stack.js';
export * from './limit.js';
export * from './names.js';
export * from './sink.js';

/** The DaemonSet and the compose service describe the same appliance, and both match the CLI. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseListen } from '../../src/options/index.js';
import { ROOT } from '../lib/env.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
test('deploy/daemonset.yaml: host namespaces, listed capabilities, a metrics port the args serve', () => {
  const ds = parse(readFileSync(`${ROOT}deploy/daemonset.yaml`, 'utf8')) as any;
  const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as any;
  assert.equal(ds.kind, 'DaemonSet');
  const pod = ds.spec.template.spec;
  const c = pod.containers[0];
  assert.deepEqual([pod.hostNetwork, pod.hostPID], [true, true]);
  assert.equal(compose.services.xtrace.network_mode, 'host');
  assert.equal(compose.services.xtrace.pid, 'host');
  assert.equal(c.securityContext.privileged, false);
  assert.deepEqual(c.securityContext.capabilities.add, compose.services.xtrace.cap_add, 'the same capabilities as compose');
  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
  assert.equal(env.MODE, 'xdp');
  const listen = /--metrics-listen (\S+)/.exec(env.XTRACE_ARGS)![1]!;
  const port = parseListen(listen, '--metrics-listen').port;
  assert.equal(c.ports[0].containerPort, port);
  assert.equal(ds.spec.template.metadata.annotations['prometheus.io/port'], String(port));
  assert.deepEqual(Object.keys(compose.services.xtrace.environment).sort(), ['DEVICE', 'INTERFACE', 'INTERVAL', 'MODE', 'TARGET_IP', 'XTRACE_ARGS', 'XTRACE_CGROUP_ROOT', 'XTRACE_SYSFS_ROOT']);
  // limit mode: the host's cgroup tree, mounted where XTRACE_CGROUP_ROOT says, in both
  assert.equal(env.XTRACE_CGROUP_ROOT, compose.services.xtrace.environment.XTRACE_CGROUP_ROOT);
  assert.ok(compose.services.xtrace.volumes.includes(`/sys/fs/cgroup:${env.XTRACE_CGROUP_ROOT}:ro`));
  const cgMount = c.volumeMounts.find((m: any) => m.mountPath === env.XTRACE_CGROUP_ROOT);
  assert.ok(cgMount?.readOnly, 'the DaemonSet mounts the cgroup tree read-only');
  assert.equal(pod.volumes.find((v: any) => v.name === cgMount.name).hostPath.path, '/sys/fs/cgroup');
});

/** The DaemonSet and the compose service describe the same appliance, and both match the CLI. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { parseListen } from '../../src/options/index.js';
import { ROOT } from '../lib/env.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
test('deploy/daemonset.yaml: host namespaces, listed capabilities, a metrics port the args serve', () => {
  const docs = parseAllDocuments(readFileSync(`${ROOT}deploy/daemonset.yaml`, 'utf8')).map((d) => d.toJS()) as any[];
  const ds = docs.find((d) => d.kind === 'DaemonSet');
  const cm = docs.find((d) => d.kind === 'ConfigMap');
  const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as any;
  assert.ok(ds && cm, 'a DaemonSet and its ConfigMap');
  const pod = ds.spec.template.spec;
  const c = pod.containers[0];
  assert.deepEqual([pod.hostNetwork, pod.hostPID], [true, true]);
  assert.equal(compose.services.xtrace.network_mode, 'host');
  assert.equal(compose.services.xtrace.pid, 'host');
  assert.equal(c.securityContext.privileged, false);
  assert.deepEqual(c.securityContext.capabilities.add, compose.services.xtrace.cap_add, 'the same capabilities as compose');
  // the appliance's options come from the ConfigMap; every value is a string (Kubernetes refuses others)
  assert.deepEqual(c.envFrom, [{ configMapRef: { name: cm.metadata.name } }]);
  assert.equal(cm.metadata.namespace, ds.metadata.namespace);
  for (const [k, v] of Object.entries(cm.data)) assert.equal(typeof v, 'string', k);
  const env = { ...cm.data, ...Object.fromEntries(c.env.map((e: any) => [e.name, e.value])) };
  assert.equal(env.MODE, 'xdp');
  assert.equal(c.env.find((e: any) => e.name === 'host_ip')?.valueFrom?.fieldRef?.fieldPath, 'status.hostIP', 'host_ip labels pushed series');
  const listen = /--metrics-listen (\S+)/.exec(env.XTRACE_ARGS)![1]!;
  const port = parseListen(listen, '--metrics-listen').port;
  assert.equal(c.ports[0].containerPort, port);
  assert.equal(ds.spec.template.metadata.annotations['prometheus.io/port'], String(port));
  assert.deepEqual(Object.keys(compose.services.xtrace.environment).sort(), [
    'DEVICE', 'INTERFACE', 'INTERVAL', 'MODE', 'TARGET_IP', 'XTRACE_ARGS', 'XTRACE_CGROUP_ROOT', 'XTRACE_REMOTE_WRITE', 'XTRACE_SYSFS_ROOT', 'XTRACE_VICTORIAMETRICS',
  ]);
  for (const k of ['XTRACE_REMOTE_WRITE', 'XTRACE_VICTORIAMETRICS']) assert.ok(k in cm.data, `${k} in the ConfigMap too`);
  // EXPORT=vm: the profile's VictoriaMetrics listens where make docker-up points xtrace
  const vm = compose.services.victoriametrics;
  assert.deepEqual(vm.profiles, ['vm']);
  assert.equal(vm.network_mode, 'host');
  const listenVm = vm.command.find((a: string) => a.startsWith('-httpListenAddr='))!.split('=')[1];
  assert.match(readFileSync(`${ROOT}Makefile`, 'utf8'), new RegExp(`XTRACE_VICTORIAMETRICS='http://${listenVm.replace(/\./g, '\\.')}' COMPOSE_PROFILES=vm`));
  // limit mode: the host's cgroup tree, mounted where XTRACE_CGROUP_ROOT says, in both
  assert.equal(env.XTRACE_CGROUP_ROOT, compose.services.xtrace.environment.XTRACE_CGROUP_ROOT);
  assert.ok(compose.services.xtrace.volumes.includes(`/sys/fs/cgroup:${env.XTRACE_CGROUP_ROOT}:ro`));
  const cgMount = c.volumeMounts.find((m: any) => m.mountPath === env.XTRACE_CGROUP_ROOT);
  assert.ok(cgMount?.readOnly, 'the DaemonSet mounts the cgroup tree read-only');
  assert.equal(pod.volumes.find((v: any) => v.name === cgMount.name).hostPath.path, '/sys/fs/cgroup');
});

/** A Docker engine for the docker tests: the running one, or dockerd started here (and stopped after). */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { sleep } from './cli.js';
import { hasCommand } from './env.js';

export function dockerUp(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export class Engine {
  private started: ChildProcess | null = null;

  /** Why the engine cannot be had, or null once it runs. */
  async ensure(): Promise<string | null> {
    if (!hasCommand('docker')) return 'needs the docker client (apt-get install docker.io)';
    if (dockerUp()) return null;
    if (!hasCommand('dockerd')) return 'needs dockerd (apt-get install docker.io)';
    this.started = spawn('dockerd', [], { stdio: 'ignore', detached: false });
    for (let i = 0; i < 60; i++) {
      if (dockerUp()) return null;
      await sleep(500);
    }
    return 'dockerd did not come up within 30 s';
  }

  async stop(): Promise<void> {
    const d = this.started;
    if (!d) return;
    this.started = null;
    d.kill('SIGTERM');
    await new Promise((r) => d.once('close', r));
  }
}

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

export function removeContainer(name: string): void {
  try {
    execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
  } catch {
    /* not there */
  }
}

/**
 * Test harness: runs a command in the image `make image` built (test/services/image/build.sh),
 * the way the chart's pod runs it, with `buildah run --isolation chroot`. (`podman run` fails on
 * this machine with "crun: setrlimit RLIMIT_NOFILE: Operation not permitted": root here lacks
 * CAP_SYS_RESOURCE and podman asks for nofile/nproc limits of 1048576, above the hard limits;
 * with `--ulimit` under them crun then refuses the hybrid cgroup v1 layout, and only
 * `--runtime runc` runs. buildah's chroot isolation needs neither.)
 *
 * What a pod with the chart's securityContext gets, and how it is had here:
 * - the image's ENTRYPOINT (tini) + the container's args, read from the image config;
 * - uid/gid from the pod spec, no capabilities, no_new_privs (setpriv);
 * - a read-only root: buildah run has no --read-only, so a root shell with CAP_SYS_ADMIN
 *   remounts the container's `/` read-only (a bind remount in buildah's private mount
 *   namespace: the storage stays as it is) before it drops to the uid;
 * - its own PID namespace (unshare --pid): tini is PID 1 as in a pod;
 * - the volumes as bind mounts of host directories (emptyDirs: directories owned by the uid;
 *   the ConfigMap: a read-only directory of its files).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../k8s/apiserver.js';

const execFileP = promisify(execFile);

export const BUILD_SCRIPT = path.join(repoRoot(), 'test', 'services', 'image', 'build.sh');

/** The reference of the image built from this tree's inputs, or an error saying why there is none. */
export async function builtImage(): Promise<{ ref?: string; error?: string }> {
  try {
    const { stdout } = await execFileP('bash', [BUILD_SCRIPT, '--ref'], { timeout: 60_000 });
    return { ref: stdout.trim() };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { error: (e.stderr || e.message).trim() };
  }
}

export function hasBuildah(): boolean {
  return (process.env['PATH'] ?? '').split(':').some((d) => d && existsSync(path.join(d, 'buildah')));
}

async function buildah(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP('buildah', args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`buildah ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly?: boolean;
}

export interface RunSpec {
  /** Container args (after the image's ENTRYPOINT). */
  args: string[];
  env: Record<string, string>;
  uid: number;
  gid: number;
  mounts: Mount[];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  done: Promise<RunResult>;
  /** Host pid of the image's entrypoint process (tini), found among the run's descendants. */
  entrypointPid(timeoutMs?: number): Promise<number>;
}

/** A working container of the image; every run shares its root filesystem (read-only). */
export class ImageContainer {
  private constructor(
    readonly ref: string,
    readonly name: string,
    readonly entrypoint: string[],
    private readonly upperDir: string,
  ) {}

  static async create(ref: string): Promise<ImageContainer> {
    const name = await buildah(['from', '--pull=never', ref]);
    const config = JSON.parse(await buildah(['inspect', '--type', 'container', name])) as {
      OCIv1: { config: { Entrypoint?: string[] } };
    };
    const mountPoint = await buildah(['mount', name]);
    // The container's own layer: overlay's upper dir next to the merged mount point.
    const upper = path.join(path.dirname(mountPoint), 'diff');
    return new ImageContainer(ref, name, config.OCIv1.config.Entrypoint ?? [], upper);
  }

  /**
   * Every path in the container's own layer (what a run wrote outside its mounts lands
   * there), except buildah's per-run bookkeeping (/run and the mount points it creates).
   */
  writtenOutsideMounts(mounts: Mount[]): string[] {
    const ignore = new Set(['run', ...mounts.flatMap((m) => ancestors(m.containerPath))]);
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const e of readdirSync(path.join(this.upperDir, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (r === 'run' || r.startsWith('run/')) continue;
        if (!ignore.has(r)) out.push(r);
        if (e.isDirectory()) walk(r);
      }
    };
    if (existsSync(this.upperDir)) walk('');
    return out;
  }

  start(spec: RunSpec): Started {
    const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [...this.entrypoint, ...spec.args].map(sh).join(' ');
    const script =
      'mount -o remount,bind,ro / || exit 90; ' +
      `exec unshare --pid --fork --mount-proc setpriv --reuid=${spec.uid} --regid=${spec.gid} --clear-groups ` +
      `--inh-caps=-all --bounding-set=-all --no-new-privs ${cmd}`;
    const args = [
      'run', '--isolation', 'chroot', '--no-hosts', '--user', '0:0', '--cap-add', 'CAP_SYS_ADMIN',
      ...Object.entries(spec.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      ...spec.mounts.flatMap((m) => ['--volume', `${m.hostPath}:${m.containerPath}:${m.readOnly ? 'ro' : 'rw'}`]),
      this.name, '--', '/bin/sh', '-c', script,
    ];
    const child = spawn('buildah', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const done = new Promise<RunResult>((resolve) => {
      child.once('error', (err) => resolve({ code: null, signal: null, stdout, stderr: stderr + String(err) }));
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    const entrypoint = this.entrypoint[0] ?? '';
    const entrypointPid = async (timeoutMs = 60_000): Promise<number> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const pid = child.pid === undefined ? undefined : descendants(child.pid).find((p) => cmdline(p)[0] === entrypoint);
        if (pid !== undefined) return pid;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`no ${entrypoint} process under buildah run (pid ${child.pid}); stderr:\n${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    return { child, done, entrypointPid };
  }

  async run(spec: RunSpec): Promise<RunResult> {
    return this.start(spec).done;
  }

  async remove(): Promise<void> {
    await buildah(['umount', this.name]).catch(() => undefined);
    await buildah(['rm', this.name]).catch(() => undefined);
  }
}

/** "/var/lib/sfpipe" → ["var", "var/lib", "var/lib/sfpipe"] */
function ancestors(p: string): string[] {
  const parts = p.split('/').filter(Boolean);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** All live descendants of pid, from /proc/<pid>/task/<tid>/children. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.split(/\s+/).filter(Boolean).map(Number)) {
        out.push(k);
        queue.push(k);
      }
    }
  }
  return out;
}

/**
 * Test harness: a real etcd + kube-apiserver on loopback, set up the way
 * controller-runtime's envtest does (no kubelet, no scheduler), and, when asked
 * (`controllers`), a kube-controller-manager running the named controllers: with the Job and
 * CronJob controllers, CronJobs fire and Jobs get their Pods (which stay Pending: no node).
 *
 * Binaries come from `.tools/bin/` (built by `test/services/k8s/build.sh`) unless
 * `opts.binDir` or env `SFPIPE_TOOLS_BIN` says otherwise.
 *
 * Authentication: client certificates (admin, group system:masters, signed by a
 * throw-away CA that is also `--client-ca-file`) and, for plain HTTP clients, a static
 * bearer token for the same user (`--token-auth-file`). Authorization: RBAC.
 *
 * Child processes are stopped on `stop()` (SIGTERM, then SIGKILL after a grace period),
 * on the parent's `exit`, and — even if the parent is SIGKILLed — by a tiny watchdog
 * shell that waits for EOF on a pipe from the parent.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface StartApiServerOptions {
  /** Directory holding `etcd` and `kube-apiserver`. Default: env SFPIPE_TOOLS_BIN or `<repo>/.tools/bin`. */
  binDir?: string;
  /** How long to wait for etcd /health and apiserver /readyz. Default 90 s. */
  startTimeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL in stop(). Default 10 s. */
  stopTimeoutMs?: number;
  /** Extra `--flag=value` arguments appended to the kube-apiserver command line. */
  extraApiServerArgs?: string[];
  /** Keep the temp dir (certs, etcd data, logs) after stop(). Default false (env SFPIPE_K8S_KEEP=1 also keeps it). */
  keepTempDir?: boolean;
  /**
   * Controllers for a kube-controller-manager started with the API server (its `--controllers`,
   * e.g. `['cronjob-controller', 'job-controller']`); none: no controller manager. Its binary
   * is `kube-controller-manager` in binDir (test/services/k8s/build-controllers.sh).
   */
  controllers?: string[];
}

export interface ApiServer {
  /** kubeconfig for the admin user (client certs embedded), context `sfpipe-test`. */
  kubeconfigPath: string;
  /** e.g. `https://127.0.0.1:41234` */
  server: string;
  /** Bearer token for the same admin user (system:masters). */
  adminToken: string;
  /** PEM of the CA that signed the serving cert and the client certs. */
  caCertPem: string;
  /** Admin client certificate / key (PEM), CN=sfpipe-admin, O=system:masters. */
  clientCertPem: string;
  clientKeyPem: string;
  /** `http://127.0.0.1:<port>` of the etcd the apiserver uses. */
  etcdUrl: string;
  /** Temp dir with certs/, etcd-data/, etcd.log, kube-apiserver.log, kubeconfig (and kube-controller-manager.log). */
  dir: string;
  /** The controller manager's log file, when `controllers` started one. */
  controllerManagerLog?: string;
  /** Stops kube-apiserver, then etcd (SIGTERM, SIGKILL after the grace period); removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** Walks up from this file to the repository root (the dir with package.json named sf-user-pipeline). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sf-user-pipeline') return dir;
      } catch {
        /* keep walking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('apiserver harness: repository root (package.json "sf-user-pipeline") not found');
    dir = up;
  }
}

/** Where build.sh puts the binaries. */
export function k8sToolsBin(): string {
  return process.env['SFPIPE_TOOLS_BIN'] || path.join(repoRoot(), '.tools', 'bin');
}

export function kubectlPath(binDir = k8sToolsBin()): string {
  return path.join(binDir, 'kubectl');
}

export function controllerManagerPath(binDir = k8sToolsBin()): string {
  return path.join(binDir, 'kube-controller-manager');
}

/** True when etcd and kube-apiserver binaries are present. */
export function hasApiServerBinaries(binDir = k8sToolsBin()): boolean {
  return existsSync(path.join(binDir, 'kube-apiserver')) && existsSync(path.join(binDir, 'etcd'));
}

/** A free loopback TCP port (bind to :0, read, close). Ports in `avoid` are skipped. */
async function freePort(avoid: Set<number>): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address() as net.AddressInfo;
        srv.close(() => resolve(addr.port));
      });
    });
    if (!avoid.has(port)) {
      avoid.add(port);
      return port;
    }
  }
  throw new Error('apiserver harness: could not find a free port');
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

interface Pki {
  caCrt: string;
  servingCrt: string;
  servingKey: string;
  adminCrt: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

/** CA, serving cert (127.0.0.1/localhost), admin client cert (O=system:masters), SA key pair. */
async function makePki(certDir: string): Promise<Pki> {
  await mkdir(certDir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=sfpipe-test-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'],
    certDir,
  );
  await writeFile(
    path.join(certDir, 'serving.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
      'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\n',
  );
  await writeFile(
    path.join(certDir, 'client.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  const leaf = async (name: string, subj: string, ext: string) => {
    await openssl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], certDir);
    await openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`,
        '-days', '2', '-extfile', ext, '-out', `${name}.crt`],
      certDir,
    );
  };
  await leaf('apiserver', '/CN=kube-apiserver', 'serving.ext');
  await leaf('admin', '/O=system:masters/CN=sfpipe-admin', 'client.ext');
  // Service-account token signing key (RSA, like kubeadm's sa.key / sa.pub).
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], certDir);
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], certDir);
  const p = (f: string) => path.join(certDir, f);
  return {
    caCrt: p('ca.crt'),
    servingCrt: p('apiserver.crt'),
    servingKey: p('apiserver.key'),
    adminCrt: p('admin.crt'),
    adminKey: p('admin.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
  };
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** GET url; resolves with the status code (0 on connection error). `insecure`: no TLS verification (a self-signed serving cert). */
function probe(url: string, opts: { ca?: string; token?: string; insecure?: boolean }): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: 'GET',
        timeout: 2000,
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.insecure ? { rejectUnauthorized: false } : {}),
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null;
}

/** Every live child of every harness instance, for the process-exit hook. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL whatever is still running.
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
  // On SIGINT/SIGTERM: kill the children, then re-raise with default behaviour
  // (only when nobody else handles the signal, to not change the host's semantics).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(sig) > 0) continue;
    const handler = () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
      process.removeListener(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

function startProc(name: string, bin: string, args: string[], log: string): Proc {
  const out = createWriteStream(log, { flags: 'a' });
  out.on('error', () => undefined);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  liveChildren.add(child);
  const proc: Proc = {
    name,
    child,
    log,
    exitInfo: null,
    exited: new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        proc.exitInfo ??= { code, signal };
        liveChildren.delete(child);
      });
      child.once('error', (err) => {
        proc.exitInfo ??= { code: null, signal: null };
        liveChildren.delete(child);
        out.write(`spawn error: ${err.message}\n`);
      });
      // 'close' fires after the process exited (or failed to spawn) and stdio ended: the log is complete.
      child.once('close', () => {
        liveChildren.delete(child);
        out.end(() => resolve());
      });
    }),
  };
  return proc;
}

async function stopProc(p: Proc, graceMs: number): Promise<void> {
  if (p.exitInfo) return p.exited;
  p.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (!p.exitInfo) p.child.kill('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([p.exited, killed]);
  clearTimeout(timer);
  await p.exited;
}

/**
 * Watchdog: a shell that blocks reading a pipe from us. When this Node process dies in any
 * way (even SIGKILL) the pipe hits EOF and the shell kills the given pids.
 */
function startWatchdog(pids: number[]): ChildProcess | undefined {
  if (process.platform === 'win32' || pids.length === 0) return undefined;
  const list = pids.join(' ');
  const script = `cat >/dev/null; kill -TERM ${list} 2>/dev/null; sleep 5; kill -KILL ${list} 2>/dev/null; exit 0`;
  const wd = spawn('/bin/sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  wd.on('error', () => undefined);
  wd.stdin?.on('error', () => undefined);
  wd.unref();
  // The pipe must not keep the event loop alive.
  (wd.stdin as net.Socket | null)?.unref();
  return wd;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  proc: Proc,
  deadline: number,
): Promise<void> {
  for (;;) {
    if (proc.exitInfo) {
      throw new Error(
        `${proc.name} exited early (code ${proc.exitInfo.code}, signal ${proc.exitInfo.signal}) while waiting for ${what}; log ${proc.log}:\n${tail(proc.log)}`,
      );
    }
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${proc.name} log ${proc.log}:\n${tail(proc.log)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts etcd + kube-apiserver on free loopback ports and waits for /readyz. */
export async function startApiServer(opts: StartApiServerOptions = {}): Promise<ApiServer> {
  const binDir = opts.binDir ?? k8sToolsBin();
  const etcdBin = path.join(binDir, 'etcd');
  const apiBin = path.join(binDir, 'kube-apiserver');
  const kcmBin = controllerManagerPath(binDir);
  for (const b of [etcdBin, apiBin, ...(opts.controllers?.length ? [kcmBin] : [])]) {
    if (!existsSync(b)) throw new Error(`apiserver harness: ${b} is missing; run test/services/k8s/build.sh`);
  }
  const startTimeout = opts.startTimeoutMs ?? 90_000;
  const grace = opts.stopTimeoutMs ?? 10_000;
  const keep = opts.keepTempDir ?? process.env['SFPIPE_K8S_KEEP'] === '1';
  installExitHook();

  const dir = await mkdtemp(path.join(os.tmpdir(), 'sfpipe-k8s-'));
  const procs: Proc[] = [];
  const watchdogs: ChildProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // apiserver first (it would otherwise log etcd connection errors), then etcd.
      for (const p of [...procs].reverse()) await stopProc(p, grace);
      for (const watchdog of watchdogs) {
        if (watchdog.pid !== undefined && watchdog.exitCode === null) {
          try {
            process.kill(-watchdog.pid, 'SIGKILL'); // its own process group: sh and cat
          } catch {
            /* already gone */
          }
        }
        watchdog.stdin?.destroy();
      }
      if (!keep) await rm(dir, { recursive: true, force: true });
    })());

  try {
    const certDir = path.join(dir, 'certs');
    const pki = await makePki(certDir);
    const ports = new Set<number>();
    const etcdClient = await freePort(ports);
    const etcdPeer = await freePort(ports);
    const securePort = await freePort(ports);
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    const server = `https://127.0.0.1:${securePort}`;
    const deadline = Date.now() + startTimeout;

    // --- etcd (envtest: data dir + client/peer URLs; no fsync needed for tests) ---
    const etcd = startProc(
      'etcd',
      etcdBin,
      [
        '--name=default',
        `--data-dir=${path.join(dir, 'etcd-data')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      path.join(dir, 'etcd.log'),
    );
    procs.push(etcd);
    await waitFor(
      `etcd ${etcdUrl}/health`,
      async () => {
        const r = await probe(`${etcdUrl}/health`, {});
        return r.status === 200 && r.body.includes('"health":"true"');
      },
      etcd,
      deadline,
    );

    // --- kube-apiserver (envtest defaults + explicit certs and admin auth) ---
    const adminToken = randomBytes(24).toString('hex');
    const tokenFile = path.join(certDir, 'tokens.csv');
    await writeFile(tokenFile, `${adminToken},sfpipe-admin,sfpipe-admin-uid,"system:masters"\n`, { mode: 0o600 });
    const api = startProc(
      'kube-apiserver',
      apiBin,
      [
        `--etcd-servers=${etcdUrl}`,
        `--cert-dir=${certDir}`,
        `--tls-cert-file=${pki.servingCrt}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.caCrt}`,
        `--token-auth-file=${tokenFile}`,
        `--secure-port=${securePort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--authorization-mode=RBAC',
        '--disable-admission-plugins=ServiceAccount',
        `--service-account-issuer=${server}/`,
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        ...(opts.extraApiServerArgs ?? []),
      ],
      path.join(dir, 'kube-apiserver.log'),
    );
    procs.push(api);
    const watchdog = startWatchdog(procs.map((p) => p.child.pid).filter((p): p is number => typeof p === 'number'));
    if (watchdog) watchdogs.push(watchdog);

    const caCertPem = await readFile(pki.caCrt, 'utf8');
    await waitFor(
      `kube-apiserver ${server}/readyz`,
      async () => (await probe(`${server}/readyz`, { ca: caCertPem, token: adminToken })).status === 200,
      api,
      deadline,
    );

    const clientCertPem = await readFile(pki.adminCrt, 'utf8');
    const clientKeyPem = await readFile(pki.adminKey, 'utf8');
    const kubeconfigPath = path.join(dir, 'kubeconfig');
    await writeFile(
      kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: sfpipe-test',
        '  cluster:',
        `    server: ${server}`,
        `    certificate-authority-data: ${b64(caCertPem)}`,
        'users:',
        '- name: sfpipe-admin',
        '  user:',
        `    client-certificate-data: ${b64(clientCertPem)}`,
        `    client-key-data: ${b64(clientKeyPem)}`,
        'contexts:',
        '- name: sfpipe-test',
        '  context:',
        '    cluster: sfpipe-test',
        '    user: sfpipe-admin',
        '    namespace: default',
        'current-context: sfpipe-test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );

    // --- kube-controller-manager (only the controllers asked for; no leader election) ---
    let controllerManagerLog: string | undefined;
    if (opts.controllers?.length) {
      const kcmPort = await freePort(ports);
      controllerManagerLog = path.join(dir, 'kube-controller-manager.log');
      const kcm = startProc(
        'kube-controller-manager',
        kcmBin,
        [
          `--kubeconfig=${kubeconfigPath}`,
          `--controllers=${opts.controllers.join(',')}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${kcmPort}`,
          `--cert-dir=${path.join(dir, 'kcm-certs')}`,
          '--use-service-account-credentials=false',
          '--v=2',
        ],
        controllerManagerLog,
      );
      procs.push(kcm);
      const kcmWatchdog = startWatchdog(typeof kcm.child.pid === 'number' ? [kcm.child.pid] : []);
      if (kcmWatchdog) watchdogs.push(kcmWatchdog);
      // /healthz is served without authentication (--authorization-always-allow-paths default).
      await waitFor(
        `kube-controller-manager https://127.0.0.1:${kcmPort}/healthz`,
        async () => (await probe(`https://127.0.0.1:${kcmPort}/healthz`, { insecure: true })).status === 200,
        kcm,
        Date.now() + startTimeout,
      );
    }

    return { kubeconfigPath, server, adminToken, caCertPem, clientCertPem, clientKeyPem, etcdUrl, dir, stop, ...(controllerManagerLog ? { controllerManagerLog } : {}) };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

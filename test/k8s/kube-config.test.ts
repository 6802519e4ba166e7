/** k8s/kube-config.ts: which kubeconfig files are read and which context wins (no API server needed). */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { loadKubeContext } from '../../k8s/kube-config.js';
import { tempDir } from '../helpers/temp.js';

function kubeconfig(dir: string, name: string, opts: { cluster: string; current?: string; namespace?: string }): string {
  const file = path.join(dir, name);
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{ name: ${opts.cluster}, cluster: { server: "https://${opts.cluster}.example.invalid:6443" } }]`,
    `users: [{ name: user-${opts.cluster}, user: { token: not-a-real-token } }]`,
    `contexts: [{ name: ctx-${opts.cluster}, context: { cluster: ${opts.cluster}, user: user-${opts.cluster}${opts.namespace ? `, namespace: ${opts.namespace}` : ''} } }]`,
    ...(opts.current ? [`current-context: ${opts.current}`] : []),
  ].join('\n');
  fs.writeFileSync(file, yaml + '\n');
  return file;
}

/** Runs fn with KUBECONFIG set (and no in-cluster hint), restoring the environment after. */
async function withKubeconfigEnv<T>(value: string, fn: () => Promise<T>): Promise<T> {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST };
  process.env.KUBECONFIG = value;
  delete process.env.KUBERNETES_SERVICE_HOST;
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

test.serial('$KUBECONFIG with several files: as kubectl, the first file that sets a current context decides it; missing files are skipped', async (t) => {
  const dir = tempDir();
  const a = kubeconfig(dir, 'a', { cluster: 'alpha' });
  const b = kubeconfig(dir, 'b', { cluster: 'beta', current: 'ctx-beta', namespace: 'data' });
  const c = kubeconfig(dir, 'c', { cluster: 'gamma', current: 'ctx-gamma' });
  const missing = path.join(dir, 'missing');
  const ctx = await withKubeconfigEnv([missing, a, b, c].join(path.delimiter), () => loadKubeContext());
  t.is(ctx.kc.getCurrentContext(), 'ctx-beta');
  t.is(ctx.namespace, 'data');
  t.is(ctx.kc.getCurrentCluster()?.server, 'https://beta.example.invalid:6443');
  t.deepEqual(ctx.kc.getContexts().map((x) => x.name).sort(), ['ctx-alpha', 'ctx-beta', 'ctx-gamma']);
  const first = await withKubeconfigEnv([c, b].join(path.delimiter), () => loadKubeContext());
  t.is(first.kc.getCurrentContext(), 'ctx-gamma');
});

test.serial('a cluster defined in two files is refused naming the second file; no current context says how to pick one', async (t) => {
  const dir = tempDir();
  const a = kubeconfig(dir, 'a', { cluster: 'alpha', current: 'ctx-alpha' });
  const again = kubeconfig(dir, 'again', { cluster: 'alpha' });
  const dup = await t.throwsAsync(withKubeconfigEnv([a, again].join(path.delimiter), () => loadKubeContext()));
  t.regex(dup!.message, new RegExp(`^could not read the kubeconfig ${again.replace(/[/.]/g, '\\$&')}: `));
  const none = await t.throwsAsync(withKubeconfigEnv(kubeconfig(dir, 'none', { cluster: 'delta' }), () => loadKubeContext()));
  t.regex(none!.message, /has no current context; pick one with kubectl config use-context NAME, or pass --kubeconfig FILE/);
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { UsageError } from '../runtime/errors.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeContext {
  kc: KubeConfig;
  namespace: string;
  inCluster: boolean;
}

/**
 * In a pod: the ServiceAccount's config and namespace; outside: the kubeconfig (`opts.kubeconfig`,
 * else $KUBECONFIG, else ~/.kube/config). With none of them it fails saying so, instead of the
 * client's fallback to http://localhost:8080 (whose error names neither the cause nor the fix);
 * a `kubeconfig` that does not exist is a usage error.
 */
export async function loadKubeContext(opts: { namespace?: string; kubeconfig?: string } = {}): Promise<KubeContext> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const inCluster = !opts.kubeconfig && !!process.env.KUBERNETES_SERVICE_HOST && fs.existsSync(`${SA_DIR}/token`);
  if (inCluster) kc.loadFromCluster();
  else {
    const files = kubeconfigFiles(opts.kubeconfig);
    files.forEach((file, i) => {
      const one = i === 0 ? kc : new k8s.KubeConfig();
      try {
        one.loadFromFile(file);
        if (one !== kc) {
          // As kubectl: the first file that sets a current context decides it.
          kc.mergeConfig(one, true);
          if (!kc.getCurrentContext() && one.getCurrentContext()) kc.setCurrentContext(one.getCurrentContext());
        }
      } catch (err) {
        // Unlike kubectl, a cluster, user or context defined in two files is refused (the client's rule).
        throw new Error(`could not read the kubeconfig ${file}: ${(err as Error).message}`);
      }
    });
    if (!kc.getCurrentCluster()) {
      const current = kc.getCurrentContext();
      throw new Error(
        `the kubeconfig ${files.join(', ')} has ${current ? `no cluster for its current context "${current}"` : 'no current context'}; ` +
          'pick one with kubectl config use-context NAME, or pass --kubeconfig FILE',
      );
    }
  }
  const namespace =
    opts.namespace ??
    (inCluster && fs.existsSync(`${SA_DIR}/namespace`) ? fs.readFileSync(`${SA_DIR}/namespace`, 'utf8').trim() : undefined) ??
    kc.getContextObject(kc.getCurrentContext())?.namespace ??
    'default';
  return { kc, namespace, inCluster };
}

/** The kubeconfig files to load, as kubectl picks them (missing files in $KUBECONFIG are skipped); throws when there are none. */
function kubeconfigFiles(explicit: string | undefined): string[] {
  if (explicit) {
    if (!fs.existsSync(explicit)) throw new UsageError(`the kubeconfig ${explicit} (--kubeconfig) does not exist`);
    if (!fs.statSync(explicit).isFile()) throw new UsageError(`the kubeconfig ${explicit} (--kubeconfig) is not a file`);
    return [explicit];
  }
  const why = process.env.KUBERNETES_SERVICE_HOST
    ? `KUBERNETES_SERVICE_HOST is set but there is no ServiceAccount token in ${SA_DIR} (automountServiceAccountToken: false?)`
    : 'not running in a pod';
  const fix = 'pass --kubeconfig FILE or set KUBECONFIG';
  const fromEnv = (process.env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  if (fromEnv.length > 0) {
    const existing = fromEnv.filter((f) => fs.existsSync(f));
    if (existing.length === 0) {
      throw new Error(`no Kubernetes config found: no in-cluster config (${why}), and $KUBECONFIG names no file that exists (${fromEnv.join(path.delimiter)}); ${fix}`);
    }
    return existing;
  }
  const home = path.join(os.homedir(), '.kube', 'config');
  if (!fs.existsSync(home)) {
    throw new Error(`no Kubernetes config found: no in-cluster config (${why}), $KUBECONFIG is not set and ${home} does not exist; ${fix}`);
  }
  return [home];
}

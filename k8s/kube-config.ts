import fs from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeContext {
  kc: KubeConfig;
  namespace: string;
  inCluster: boolean;
}

/** In a pod: the ServiceAccount's config and namespace; outside: the kubeconfig ($KUBECONFIG or ~/.kube/config). */
export async function loadKubeContext(opts: { namespace?: string; kubeconfig?: string } = {}): Promise<KubeContext> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const inCluster = !opts.kubeconfig && !!process.env.KUBERNETES_SERVICE_HOST && fs.existsSync(`${SA_DIR}/token`);
  if (inCluster) kc.loadFromCluster();
  else if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  const namespace =
    opts.namespace ??
    (inCluster && fs.existsSync(`${SA_DIR}/namespace`) ? fs.readFileSync(`${SA_DIR}/namespace`, 'utf8').trim() : undefined) ??
    kc.getContextObject(kc.getCurrentContext())?.namespace ??
    'default';
  return { kc, namespace, inCluster };
}

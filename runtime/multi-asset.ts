import { DEFAULT_RETRY, defineExternalAsset, type AssetCheckDef, type AssetDef, type ExternalAssetSpec, type MultiAssetRunner, type RetryPolicy } from './definitions.js';

export interface MultiAssetSpec<R> {
  name: string;
  assets: (ExternalAssetSpec & { checks?: AssetCheckDef<R>[] })[];
  retry?: Partial<RetryPolicy>;
  run: MultiAssetRunner<R>['run'];
}

/** Declares assets that are materialized together by one run of `run` (one step per run). */
export function defineMultiAsset<R>(spec: MultiAssetSpec<R>): AssetDef<R>[] {
  const runner: MultiAssetRunner<R> = { name: spec.name, retry: { ...DEFAULT_RETRY, ...(spec.retry ?? {}) }, run: spec.run };
  return spec.assets.map((a) => ({
    ...defineExternalAsset<R>(a),
    external: false,
    checks: [...(a.checks ?? [])],
    retry: runner.retry,
    multiAsset: runner,
  }));
}

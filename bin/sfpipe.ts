#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2 --heap-growing-percent=30
// The line above is how sfpipe runs (the image's entrypoint and `make run` execute this file;
// bin/launch-settings.ts reads it for the benches). A small young generation and slow old-generation
// growth keep V8's heap near what an extraction holds live (~25 MB) where garbage grew it to ~100 MB
// at a million users. One malloc arena and a fixed mmap threshold keep glibc, which serves Node's own
// allocations (Buffers, HTTP bodies, the bindings' structures), from holding freed memory in one
// arena per thread and in its heap. DuckDB's allocator is configured below, by the first import.
// Together 80–115 MB of a 1M-user extraction's peak: bench/extract.ts, BENCH_PLAIN_NODE=1.
// First, before anything loads DuckDB: its allocator's settings are read when the library loads.
import '../assets/warehouse/duckdb-allocator.js';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli } from '../runtime/cli/main.js';
import type { Pipeline } from '../runtime/pipeline.js';
import { launchCommand } from '../k8s/cli.js';

// The AWS SDK prints a multi-line notice on Node < 22 (about SDK releases after January 2027;
// ours is pinned) into stderr on every run, between JSON log lines. Set to "false" to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * The pipeline comes from assets/ unless SFPIPE_PIPELINE names another module
 * (tests use this to run the CLI against test-only definitions).
 */
async function loadPipeline(): Promise<Pipeline<any>> {
  const override = process.env.SFPIPE_PIPELINE;
  const mod = override
    ? await import(pathToFileURL(path.resolve(override)).href)
    : await import('../assets/sf-user-pipeline.js');
  const pipeline = (typeof mod.loadPipeline === 'function' ? await mod.loadPipeline() : (mod.pipeline ?? mod.default)) as Pipeline<any> | undefined;
  if (!pipeline || !(Array.isArray(pipeline.definitions) || typeof pipeline.definitions === 'function')) {
    throw new Error(`${override ?? 'assets/sf-user-pipeline.js'} does not export a pipeline (export const pipeline = { name, definitions, openResources } or an async loadPipeline())`);
  }
  return pipeline;
}

/**
 * Adds what only a cluster needs: `sfpipe launch`, and the Lease run lock when running in a
 * pod (locally the runtime's file lock).
 */
async function withKubernetes(): Promise<Pipeline<any>> {
  const pipeline = await loadPipeline();
  const inCluster = !!process.env.KUBERNETES_SERVICE_HOST && process.env.SFPIPE_LOCK !== 'file';
  return {
    ...pipeline,
    registerCommands(program, ctx, setExit) {
      pipeline.registerCommands?.(program, ctx, setExit);
      program.addCommand(launchCommand(ctx, setExit, pipeline));
    },
    ...(inCluster && !pipeline.runLock
      ? {
          async runLock(ctx) {
            const [{ loadKubeContext }, { LeaseRunLock }] = await Promise.all([import('../k8s/kube-config.js'), import('../k8s/lease-lock.js')]);
            return LeaseRunLock.create(await loadKubeContext(), { name: process.env.SFPIPE_LEASE_NAME ?? 'sf-user-pipeline-run-lock', log: ctx.logger });
          },
        }
      : {}),
    ...(inCluster && !pipeline.sensorLock
      ? {
          async sensorLock(ctx, sensorName) {
            const [{ loadKubeContext }, { LeaseRunLock }, { sensorLeaseName }] = await Promise.all([
              import('../k8s/kube-config.js'),
              import('../k8s/lease-lock.js'),
              import('../k8s/sensor-launch.js'),
            ]);
            return LeaseRunLock.create(await loadKubeContext(), { name: sensorLeaseName(sensorName), log: ctx.logger });
          },
        }
      : {}),
    // A sensor's run in a pod: a Job from the materialize CronJob, as `sfpipe launch` makes it.
    ...(process.env.KUBERNETES_SERVICE_HOST && !pipeline.launchRun
      ? {
          async launchRun(ctx, request) {
            const { launchSensorRun } = await import('../k8s/sensor-launch.js');
            return launchSensorRun(request, ctx.logger);
          },
        }
      : {}),
  };
}

const code = await runCli(process.argv.slice(2), withKubernetes, undefined, 'sfpipe');
process.exitCode = code;

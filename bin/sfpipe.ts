#!/usr/bin/env node
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli } from '../runtime/cli/main.js';
import type { Pipeline } from '../runtime/pipeline.js';

/**
 * The pipeline comes from assets/ unless SFPIPE_PIPELINE names another module
 * (tests use this to run the CLI against test-only definitions).
 */
async function loadPipeline(): Promise<Pipeline<any>> {
  const override = process.env.SFPIPE_PIPELINE;
  const mod = override
    ? await import(pathToFileURL(path.resolve(override)).href)
    : await import('../assets/pipeline.js');
  const pipeline = (typeof mod.loadPipeline === 'function' ? await mod.loadPipeline() : (mod.pipeline ?? mod.default)) as Pipeline<any> | undefined;
  if (!pipeline || !(Array.isArray(pipeline.definitions) || typeof pipeline.definitions === 'function')) {
    throw new Error(`${override ?? 'assets/pipeline.js'} does not export a pipeline (export const pipeline = { name, definitions, openResources } or an async loadPipeline())`);
  }
  return pipeline;
}

const code = await runCli(process.argv.slice(2), loadPipeline);
process.exitCode = code;

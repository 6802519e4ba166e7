/**
 * The runtime's programmatic API: a pipeline bound to its state (PipelineInstance), materialize a
 * selection, sweep freshness. The CLI's commands are thin callers of these.
 */
export { PipelineInstance } from './instance.js';
export { materialize, type MaterializeOptions, type MaterializeOutcome } from './materialize.js';
export { sweepFreshness, type FreshnessEvaluation, type FreshnessSweep, type SweepOptions } from './sweep-freshness.js';

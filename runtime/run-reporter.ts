import type { AssetKey } from './keys.js';
import type { StepResult } from './step.js';

/** How far a step is: `done` of `total` (null: not known yet). */
export interface ProgressCount {
  done: number;
  total: number | null;
  /** What is counted, e.g. "records" (shown after the numbers). */
  unit?: string;
}

/**
 * A step's live line, for a person watching the run on a terminal. On a terminal each call
 * replaces the line while the step runs; anywhere else (JSON logs, a pipe, a cluster) it goes
 * nowhere, so a step that must leave a trace there logs it as well (`live` tells which).
 */
export interface StepStatus {
  /** true when a terminal shows the line. */
  readonly live: boolean;
  /** Replaces the line, e.g. "node 12/24 test not_null_x" or "extracting User" with a count (drawn as a bar). */
  update(text: string, count?: ProgressCount): void;
}

/** A failed check as a person reads it: its short name and a short reason. */
export interface CheckNotice {
  checkName: string;
  /** A short display name (the check's `label`), else its name. */
  label: string;
  severity: 'WARN' | 'ERROR';
  blocking: boolean;
  /** A short form of the outcome, e.g. "4 failing rows". */
  summary: string | null;
}

/**
 * Presents a run to a person watching it: a live line per running step, then one line per asset
 * with its outcome and the checks that failed. It never replaces the logs or the event log,
 * which keep every detail; the executor tells it what happens.
 */
export interface RunReporter {
  /** false: nothing is shown (the default, and everywhere but a terminal). */
  readonly live: boolean;
  stepStarted(key: AssetKey): void;
  /** The live line of a step's asset. */
  status(key: AssetKey): StepStatus;
  checkFailed(key: AssetKey, notice: CheckNotice): void;
  /** The asset's outcome (also for steps that never started: skipped, canceled, unavailable). */
  stepFinished(step: StepResult): void;
}

const SILENT_STATUS: StepStatus = { live: false, update: () => undefined };

/** Shows nothing: runs without a terminal watching. */
export const silentReporter: RunReporter = {
  live: false,
  stepStarted: () => undefined,
  status: () => SILENT_STATUS,
  checkFailed: () => undefined,
  stepFinished: () => undefined,
};

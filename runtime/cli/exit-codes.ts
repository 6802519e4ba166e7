export const EXIT = {
  OK: 0,
  /** Something failed, was skipped, or the lock is held. */
  FAILURE: 1,
  /** Bad flag, bad selection, bad input on the command line. */
  USAGE: 2,
  /** A wait gave up at its limit (as timeout(1) exits); what it waited for goes on. */
  TIMEOUT: 124,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

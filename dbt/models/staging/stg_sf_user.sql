{#
  Staging view over the raw version log: renamed columns, is_deleted made
  non-null, exact (id, systemmodstamp) repeats removed (the loader is idempotent,
  but the dimension must never depend on that). Of repeats, the first extracted
  one wins (ties broken by run id), so the choice is deterministic.
#}
{{ sf_user_observations() }}

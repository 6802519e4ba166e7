{#
  Staging view over the raw version log: renamed columns, is_deleted made
  non-null, (id, systemmodstamp) repeats removed (the loader is idempotent,
  but the dimension must never depend on that). Of several rows of one version, the
  later observation wins (latest _extracted_at, then run id): see sf_user_observations.
#}
{{ sf_user_observations() }}

{#
  Change detection (ephemeral): every staged observation of a user, in
  systemmodstamp order, flagged when it opens a new SCD2 version.

  An observation opens a version when it is the user's first, or when any
  tracked column (var scd_tracked_columns, plus is_deleted always) is distinct
  from the previous observation's value. `is distinct from` makes null <-> value
  a change and null -> null no change. Comparing with the *previous observation*
  (not with the version's first) is the same thing, because inside a version
  the tracked values never change; it also makes A -> B -> A two changes.

  version_seq numbers the versions of a user 1, 2, ...; observations that do
  not open a version belong to the latest version opened before them.
#}
{{ scd_flag_version_starts(ref('stg_sf_user')) }}

"""The dev runner: a local implementation of the Runner's ``/v1/execute`` contract (SPEC §7.4)."""

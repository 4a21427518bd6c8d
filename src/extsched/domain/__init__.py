"""Pure domain logic: no I/O, no clock; times and data are passed in."""

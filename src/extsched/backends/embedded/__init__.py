"""The embedded backend: schedule state in the service's own database, a dispatcher that turns
due occurrences into runs, and a worker pool that executes them under leases."""

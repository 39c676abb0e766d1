"""The benchmark (`python -m bench`): the pipeline, the store's queries and the dashboard measured on
the real corpus; writes BENCHMARKS.md. Outside `pipeline/` and `dashboard/` so that neither imports
the other for it, and neither ships it."""

"""Development and test infrastructure for schemaop: a throwaway PostgreSQL, a
local Kubernetes control plane built from source, and the local pod runner.

Nothing here ships in the product package; tests and ``make dev`` use it.
"""

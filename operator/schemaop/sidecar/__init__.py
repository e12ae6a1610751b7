"""The schema sidecar: an HTTP endpoint that serves the database's active schema.

Front ends fetch ``/api/v1/schema`` and ``/api/v1/jsonschema/{schema}/{table}``
at start-up and follow ``/api/v1/events`` to pick up migrations without a
redeploy. See docs/sidecar.md. Importing this package imports nothing heavy;
the server lives in :mod:`schemaop.sidecar.app` and is started by
``schemaop sidecar`` (:mod:`schemaop.commands.sidecar`).
"""

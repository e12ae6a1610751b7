"""The migration console: a web UI and JSON API over SchemaVersions, their plans and runs.

Every action is an ordinary change of Kubernetes objects made with the person's
own identity (see :mod:`schemaop.console.app`). Importing this package imports
nothing heavy; ``make_app``/``serve`` live in :mod:`schemaop.console.app`, the
configuration in :mod:`schemaop.console.config`.
"""

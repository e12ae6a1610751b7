"""One module per ``schemaop`` subcommand; see :mod:`schemaop.cli` for the contract."""

"""Allow ``python -m schemaop``."""

from schemaop.cli import main

raise SystemExit(main())

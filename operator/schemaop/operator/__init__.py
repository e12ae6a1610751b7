"""The operator: kopf handlers (:mod:`.handlers`, thin) and the reconciler that
gathers facts, calls :func:`schemaop.decide.decide` and applies the decision
(:mod:`.reconcile`). Imported only by ``schemaop operator``."""

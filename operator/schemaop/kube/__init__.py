"""Kubernetes: pure manifest builders (:mod:`.builders`) and the one module that
calls the API (:mod:`.api`). Nothing else in the package talks to the API server."""

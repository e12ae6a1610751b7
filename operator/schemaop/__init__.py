"""schemaop: keep PostgreSQL databases at a declared schema version, on Kubernetes.

The package is layered (see docs/architecture.md): pure ``model``, ``planner`` and
``lint`` at the core; ``engine`` (PostgreSQL) and ``kube`` (Kubernetes API) at the
edges; thin kopf handlers in ``operator``; the ``cli`` on top. Importing this
package imports nothing heavy, so ``schemaop migrate`` starts fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

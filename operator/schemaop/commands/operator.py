"""``schemaop operator``: run the Kubernetes operator (kopf).

Scope: ``--namespace`` (repeatable) or ``--all-namespaces``; ``--selector
k=v,...`` shards SchemaVersions between operator deployments by label; kopf
peering (``--peering NAME``) keeps exactly one active replica when more than one
runs. ``--secret-selector k=v,...`` makes the operator use only connection
Secrets with those labels, read by name, and never list or watch Secrets.
Metrics are served on ``--metrics-port``, liveness on ``--health-port``
(``/healthz``).

Job policy (docs/operator.md, "Job policy"): what a SchemaVersion may ask of the
Job the operator creates for it. ``--job-image`` and ``--job-service-account``
are what a Job gets by default, and always allowed; ``--allowed-job-image``,
``--allowed-job-service-account``, ``--allowed-snapshot-volume-type`` and
``--allowed-job-pod-annotation``, ``--allowed-job-pod-label``,
``--allowed-job-toleration`` and ``--allowed-job-node-selector`` (each
repeatable, or comma-separated in its environment variable) allow more;
``--job-api-service-account`` names the accounts whose Job pods get an API
token. The chart sets all of them from its ``jobs`` values.
"""

from __future__ import annotations

import argparse
import os
import re

from schemaop.model.jobpolicy import ANY, DEFAULT_VOLUME_TYPES, JobPolicy, parse_image
from schemaop.model.names import GROUP

# Worker threads for API requests and database reads (so at most this many database
# connections are in use at once, besides the read pool's idle ones).
IO_THREADS = 32
# glibc's malloc arenas: by default up to 8 per CPU, and each of the worker threads'
# allocations (API responses, database rows) lands in one, which keeps its freed
# memory: at 1,000 SchemaVersions 17 arenas held 78 MB (docs/benchmarks.md).
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def few_malloc_arenas() -> bool:
    """Bound glibc's malloc arenas to MALLOC_ARENAS (before the worker threads start),
    unless MALLOC_ARENA_MAX says otherwise; whether it was set (False off glibc)."""
    import ctypes

    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch this namespace (repeatable); default: the pod's own",
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    parser.add_argument(
        "--selector", default="", help="only SchemaVersions with these labels, e.g. shard=a,tier=db"
    )
    parser.add_argument(
        "--secret-selector",
        default="",
        help="use only connection Secrets with these labels, e.g. schemaop.io/database=true;"
        " Secrets are then read by name (get) and never listed or watched",
    )
    parser.add_argument(
        "--require-allowed-hosts",
        action="store_true",
        default=os.environ.get("SCHEMAOP_REQUIRE_ALLOWED_HOSTS", "").lower() in ("1", "true"),
        help="use a passwordFrom Secret only if it names the hosts its password may be sent"
        " to (annotation schemaop.io/allowed-hosts) (env SCHEMAOP_REQUIRE_ALLOWED_HOSTS)",
    )
    parser.add_argument(
        "--peering",
        default=None,
        help="kopf peering name for HA (one active replica); default: standalone",
    )
    parser.add_argument(
        "--peering-priority",
        default="auto",
        help="kopf peering priority: an integer, or 'auto' (default) for a random one per"
        " process, since kopf pauses every peer that shares its priority",
    )
    parser.add_argument(
        "--job-image",
        default=os.environ.get("SCHEMAOP_JOB_IMAGE", "schemaop:dev"),
        help="image of the migration Jobs (env SCHEMAOP_JOB_IMAGE)",
    )
    parser.add_argument(
        "--job-service-account",
        default=os.environ.get("SCHEMAOP_JOB_SERVICE_ACCOUNT") or None,
        help="ServiceAccount of the migration Jobs (env SCHEMAOP_JOB_SERVICE_ACCOUNT)",
    )
    policy = parser.add_argument_group(
        "Job policy", "what a SchemaVersion may ask of its migration Job (docs/operator.md)"
    )
    policy.add_argument(
        "--allowed-job-image",
        action="append",
        default=None,
        metavar="REF",
        help="an image a SchemaVersion may set in spec.job.image, besides --job-image: "
        "repo:tag or repo@sha256:... (exactly), repo (any tag or digest), registry/path/ "
        "(any repository under it) or '*' (repeatable; env SCHEMAOP_ALLOWED_JOB_IMAGES, "
        "comma-separated)",
    )
    policy.add_argument(
        "--allowed-job-service-account",
        action="append",
        default=None,
        metavar="NAME",
        help="a ServiceAccount a SchemaVersion may set in spec.job.serviceAccountName, besides "
        "--job-service-account (or 'default' without one); '*' for any (repeatable; env "
        "SCHEMAOP_ALLOWED_JOB_SERVICE_ACCOUNTS)",
    )
    policy.add_argument(
        "--allowed-snapshot-volume-type",
        action="append",
        default=None,
        metavar="TYPE",
        help="a volume type spec.snapshot.volume may have (default: persistentVolumeClaim "
        "only); '*' for any (repeatable; env SCHEMAOP_ALLOWED_SNAPSHOT_VOLUME_TYPES)",
    )
    policy.add_argument(
        "--allowed-job-pod-annotation",
        action="append",
        default=None,
        metavar="KEY",
        help="a key spec.job.podAnnotations may hold: a key, a prefix ending in '*', or '*' "
        "(default: none; keys changing the pod's confinement or identity need an exact "
        "entry) (repeatable; env SCHEMAOP_ALLOWED_JOB_POD_ANNOTATIONS)",
    )
    policy.add_argument(
        "--allowed-job-pod-label",
        action="append",
        default=None,
        metavar="KEY",
        help="a key spec.job.podLabels may hold: a key, a prefix ending in '*', or '*' "
        "(default: none) (repeatable; env SCHEMAOP_ALLOWED_JOB_POD_LABELS)",
    )
    policy.add_argument(
        "--allowed-job-toleration",
        action="append",
        default=None,
        metavar="KEY",
        help="a taint key spec.job.tolerations may tolerate: a key, a prefix ending in '*', "
        "or '*' (also needed for a toleration without a key) (default: none) "
        "(repeatable; env SCHEMAOP_ALLOWED_JOB_TOLERATIONS)",
    )
    policy.add_argument(
        "--allowed-job-node-selector",
        action="append",
        default=None,
        metavar="KEY",
        help="a node label key spec.job.nodeSelector may select on: a key, a prefix ending "
        "in '*', or '*' (node-role.kubernetes.io/ and kubernetes.io/hostname keys only when "
        "named exactly) (default: none) (repeatable; env SCHEMAOP_ALLOWED_JOB_NODE_SELECTORS)",
    )
    policy.add_argument(
        "--job-api-service-account",
        action="append",
        default=None,
        metavar="NAME",
        help="a ServiceAccount whose Job pods get an API token mounted; every other Job pod "
        "gets none (repeatable; env SCHEMAOP_JOB_API_SERVICE_ACCOUNTS)",
    )
    parser.add_argument(
        "--run-history-limit",
        type=int,
        default=50,
        metavar="N",
        help="run records (SchemaMigrationRun) kept per SchemaVersion, one per finished"
        " migration Job; the oldest beyond N are deleted (default: 50)",
    )
    parser.add_argument("--metrics-port", type=int, default=8080)
    parser.add_argument("--health-port", type=int, default=8081)
    parser.add_argument("--verbose", "-v", action="store_true")


# A label key (optional DNS prefix) and value, as Kubernetes accepts them; the
# chart's values.schema.json has the same pattern for the whole selector.
_LABEL_PAIR = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
    r"=([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
)


def _selector(text: str, flag: str = "--selector") -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not _LABEL_PAIR.fullmatch(part):
            raise SystemExit(
                f"schemaop operator: bad {flag} part {part!r}; use key=value with "
                "label syntax (equality only; no spaces, no '!=')"
            )
        key, _, value = part.partition("=")
        out[key] = value
    return out


def _listed(flag: list[str] | None, env: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A repeatable flag's values (each may hold commas), else its environment variable's."""
    raw = flag if flag is not None else [os.environ.get(env, "")] if env in os.environ else None
    if raw is None:
        return default
    return tuple(dict.fromkeys(v.strip() for item in raw for v in item.split(",") if v.strip()))


def job_policy(args: argparse.Namespace) -> JobPolicy:
    """The Job policy from the flags (and their environment variables)."""
    return JobPolicy(
        default_image=args.job_image,
        default_service_account=args.job_service_account,
        images=_listed(args.allowed_job_image, "SCHEMAOP_ALLOWED_JOB_IMAGES"),
        service_accounts=_listed(
            args.allowed_job_service_account, "SCHEMAOP_ALLOWED_JOB_SERVICE_ACCOUNTS"
        ),
        volume_types=_listed(
            args.allowed_snapshot_volume_type,
            "SCHEMAOP_ALLOWED_SNAPSHOT_VOLUME_TYPES",
            DEFAULT_VOLUME_TYPES,
        ),
        pod_annotations=_listed(
            args.allowed_job_pod_annotation, "SCHEMAOP_ALLOWED_JOB_POD_ANNOTATIONS"
        ),
        pod_labels=_listed(args.allowed_job_pod_label, "SCHEMAOP_ALLOWED_JOB_POD_LABELS"),
        tolerations=_listed(args.allowed_job_toleration, "SCHEMAOP_ALLOWED_JOB_TOLERATIONS"),
        node_selectors=_listed(
            args.allowed_job_node_selector, "SCHEMAOP_ALLOWED_JOB_NODE_SELECTORS"
        ),
        api_service_accounts=_listed(
            args.job_api_service_account, "SCHEMAOP_JOB_API_SERVICE_ACCOUNTS"
        ),
    )


def _own_namespace() -> str | None:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def run(args: argparse.Namespace) -> int:
    import asyncio
    import concurrent.futures
    import logging
    import sys

    import kopf
    from prometheus_client import start_http_server

    from schemaop import metrics
    from schemaop.engine.readpool import ReadPool
    from schemaop.kube.api import KubeApi, load_config
    from schemaop.operator import handlers  # registers the handlers
    from schemaop.operator.reconcile import OperatorConfig, Reconciler

    few_malloc_arenas()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("kubernetes").setLevel(logging.WARNING)
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if args.run_history_limit < 1:
        print(
            f"schemaop operator: --run-history-limit must be at least 1, not "
            f"{args.run_history_limit}",
            file=sys.stderr,
        )
        return 2
    policy = job_policy(args)
    bad = [
        e
        for e in policy.allowed_images
        if e != ANY and not e.endswith("/") and parse_image(e) is None
    ]
    if bad:
        print(
            f"schemaop operator: {bad[0]!r} is not an image reference (--job-image, "
            "--allowed-job-image): use repo:tag, repo@sha256:..., repo, registry/path/ or '*'",
            file=sys.stderr,
        )
        return 2
    config = OperatorConfig(
        job_policy=policy,
        label_selector=_selector(args.selector),
        secret_selector=_selector(args.secret_selector, "--secret-selector"),
        require_allowed_hosts=bool(args.require_allowed_hosts),
        run_history_limit=args.run_history_limit,
    )
    if not config.secret_selector:
        handlers.watch_secrets()
    if args.peering_priority == "auto":
        import random

        priority = random.SystemRandom().randint(1, 2**31 - 1)
    else:
        try:
            priority = int(args.peering_priority)
        except ValueError:
            print(
                f"schemaop operator: --peering-priority must be an integer or 'auto', not "
                f"{args.peering_priority!r}",
                file=sys.stderr,
            )
            return 2
    namespaces = list(args.namespace)
    if not args.all_namespaces and not namespaces:
        own = _own_namespace()
        namespaces = [own] if own else ["default"]
    load_config()

    @kopf.on.startup()
    async def _startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: object) -> None:
        settings.posting.enabled = False  # we post our own events, one per transition
        settings.persistence.finalizer = f"{GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = handlers.SlimDiffBase(prefix=GROUP)
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 60
        memo.config = config
        memo.triggers = {}
        memo.seen = {}
        memo.seen_migrations = {}
        # The kept read-only connections to the SchemaVersions' databases.
        memo.read_pool = ReadPool()
        # Every API request and database read runs in a worker thread of the loop's
        # default executor (asyncio.to_thread); Python's default, CPUs + 4, lets six
        # wait at once, and with hundreds of SchemaVersions reconciling, each waiting
        # on the API server, that bound and not CPU was the operator's pace
        # (docs/benchmarks.md). The API client keeps as many connections.
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(IO_THREADS, thread_name_prefix="schemaop-io")
        )
        kube = KubeApi(
            on_request=lambda verb: metrics.OPERATOR_API_REQUESTS.labels(verb).inc(),
            connections=IO_THREADS,
        )
        memo.reconciler = Reconciler(
            kube,
            config,
            read_pool=memo.read_pool,
            # The Secret watch (watch_secrets above) keeps the connection Secrets.
            secrets_watched=not config.secret_selector,
        )
        await handlers.await_discovery(memo.reconciler.kube)

    @kopf.on.cleanup()
    async def _cleanup(memo: kopf.Memo, **_: object) -> None:
        read_pool = getattr(memo, "read_pool", None)
        if read_pool is not None:
            await asyncio.to_thread(read_pool.close)

    start_http_server(args.metrics_port)
    scope = "all namespaces" if args.all_namespaces else ", ".join(namespaces)
    if config.secret_selector:
        scope += f"; Secrets only if labelled {args.secret_selector.replace(' ', '')}"
    if config.require_allowed_hosts:
        scope += "; passwordFrom Secrets only with schemaop.io/allowed-hosts"
    print(
        f"schemaop operator: watching {scope}"
        f"; metrics on :{args.metrics_port}/metrics, liveness on :{args.health_port}/healthz",
        file=sys.stderr,
    )
    print(
        "schemaop operator: Job policy: images "
        + ", ".join(policy.allowed_images)
        + "; ServiceAccounts "
        + ", ".join(policy.allowed_service_accounts)
        + "; snapshot volume types "
        + ", ".join(policy.volume_types)
        + "; pod annotations "
        + (", ".join(policy.pod_annotations) or "none")
        + "; pod labels "
        + (", ".join(policy.pod_labels) or "none")
        + "; tolerations "
        + (", ".join(policy.tolerations) or "none")
        + "; node selector keys "
        + (", ".join(policy.node_selectors) or "none")
        + "; API tokens for "
        + (", ".join(policy.api_service_accounts) or "no Job"),
        file=sys.stderr,
    )
    asyncio.run(
        kopf.operator(
            clusterwide=bool(args.all_namespaces),
            namespaces=[] if args.all_namespaces else namespaces,
            # Peering needs kopf's KopfPeering CRDs (the Helm chart installs them).
            standalone=args.peering is None,
            peering_name=args.peering,
            priority=priority,
            liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz",
        )
    )
    return 0

"""Job policy: what a SchemaVersion may ask of the Job the operator creates for it (pure).

Whoever may create a SchemaVersion gets a Job created for them by the operator,
with the operator's rights. So the operator, not the SchemaVersion's author,
decides which images, ServiceAccounts, snapshot volume types and pod
annotations a Job may have. The policy is operator configuration (flags, set
by the chart from its values); :func:`check` compares a SchemaVersion's spec
with it, and a refusal stalls the SchemaVersion before any Job exists. Not to
be confused with the lint's destructive-change policy.

Image entries match in one of four ways (references are normalized as the
container runtime does: ``postgres:16`` is ``docker.io/library/postgres:16``,
no tag means ``latest``):

- ``registry/path/name:tag``: exactly that reference;
- ``registry/path/name@sha256:...``: exactly that digest (with any tag beside it);
- ``registry/path/name``: that repository, any tag or digest;
- ``registry/path/``: any repository under that path;
- ``*``: any image.

Node selector entries are label keys, prefixes ending in ``*`` or ``*``, the same
way; keys of :data:`NODE_ROLE_LABELS` (the control plane, one named node) only
when named exactly. ``spec.job.resources`` is not policed here: the namespace's
ResourceQuota and LimitRange bind the Job as any pod of the namespace.

Annotation entries are keys (``cluster-autoscaler.kubernetes.io/safe-to-evict``),
prefixes ending in ``*`` (``example.com/*``) or ``*``. A key named exactly is
allowed; a key matched only by a prefix or ``*`` is refused when it is one of
:data:`SECURITY_ANNOTATIONS`, which change the pod's confinement or identity.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from schemaop.model.names import GROUP

ANY: Final = "*"
DEFAULT_VOLUME_TYPES: Final = ("persistentVolumeClaim",)
DEFAULT_SERVICE_ACCOUNT: Final = "default"

# Annotations that loosen the pod's confinement or give it an identity: only allowed
# when the policy names them exactly, never through a prefix or "*".
SECURITY_ANNOTATIONS: Final = (
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/",
    "container.seccomp.security.alpha.kubernetes.io/",
    "io.kubernetes.cri-o.",
    "io.katacontainers.",
    "io.kubernetes.cri.",
    "kubernetes.io/psp",
    "iam.amazonaws.com/",
    "vault.hashicorp.com/",
    "k8s.v1.cni.cncf.io/",
    "v1.multus-cni.io/",
    "sidecar.istio.io/",
    "inject.istio.io/",
    "proxy.istio.io/",
    "linkerd.io/",
    "config.linkerd.io/",
    "cni.projectcalico.org/",
    f"{GROUP}/",
)

# Node label keys that pick out nodes a workload must be let onto on purpose (the
# control plane, one named node): only allowed when the policy names them exactly.
NODE_ROLE_LABELS: Final = ("node-role.kubernetes.io/", "kubernetes.io/hostname")

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE: Final = re.compile("^" + _COMPONENT + "(?:/" + _COMPONENT + r")*\Z")
_REFERENCE_RE: Final = re.compile(
    r"^(?P<name>(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?" + _COMPONENT + r"(?:/" + _COMPONENT + r")*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?\Z"
)


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """A parsed, normalized image reference."""

    repository: str  # registry/path/name, registry always present
    tag: str | None
    digest: str | None


def parse_image(text: str) -> ImageRef | None:
    """An image reference normalized as the container runtime does, or None if malformed."""
    m = _REFERENCE_RE.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    name = m["name"]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    elif _PATH_RE.match(name):
        registry, path = "docker.io", name
    else:
        return None  # an upper-case first component that is no registry host
    if registry == "index.docker.io":
        registry = "docker.io"
    if registry == "docker.io" and "/" not in path:
        path = f"library/{path}"
    tag = m["tag"]
    if tag is None and m["digest"] is None:
        tag = "latest"
    return ImageRef(f"{registry}/{path}", tag, m["digest"])


def _prefix(entry: str) -> str:
    """``registry/path/`` with the registry made explicit (``team/`` is Docker Hub's)."""
    first = entry.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return entry.replace("index.docker.io/", "docker.io/", 1)
    return f"docker.io/{entry}"


def image_allowed(image: str, entries: Sequence[str]) -> bool:
    ref = parse_image(image)
    if ref is None:
        return False
    for entry in entries:
        if entry == ANY:
            return True
        if entry.endswith("/"):
            if ref.repository.startswith(_prefix(entry)):
                return True
            continue
        allowed = parse_image(entry)
        if allowed is None or allowed.repository != ref.repository:
            continue
        if allowed.digest is not None:
            if ref.digest == allowed.digest:
                return True
        elif "@" not in entry and ":" not in entry.rsplit("/", 1)[-1]:
            return True  # a bare repository: any tag or digest
        elif ref.digest is None and ref.tag == allowed.tag:
            return True
    return False


def _key_allowed(
    key: str, entries: Sequence[str], exact_only: Sequence[str] = SECURITY_ANNOTATIONS
) -> bool:
    if key in entries:
        return True
    if any(key.startswith(s) for s in exact_only):
        return False
    return any(e == ANY or (e.endswith("*") and key.startswith(e[:-1])) for e in entries)


@dataclasses.dataclass(frozen=True)
class JobPolicy:
    """What the operator lets a SchemaVersion ask for (its flags; the chart's ``jobs`` values).

    ``default_image`` and ``default_service_account`` are what a Job gets when the
    SchemaVersion asks for nothing; both are always allowed.
    """

    default_image: str = "schemaop:dev"
    default_service_account: str | None = None
    images: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    volume_types: tuple[str, ...] = DEFAULT_VOLUME_TYPES
    pod_annotations: tuple[str, ...] = ()
    # Label keys of spec.job.podLabels (labels select NetworkPolicies and Services).
    pod_labels: tuple[str, ...] = ()
    # Taint keys spec.job.tolerations may tolerate (a toleration without a key
    # tolerates every taint, so it needs "*").
    tolerations: tuple[str, ...] = ()
    # Node label keys spec.job.nodeSelector may select on (it chooses the nodes the
    # Job runs on: the control plane, a dedicated pool held apart by labels).
    node_selectors: tuple[str, ...] = ()
    # ServiceAccounts whose Job pods get an API token mounted; every other gets none.
    api_service_accounts: tuple[str, ...] = ()

    @property
    def allowed_images(self) -> tuple[str, ...]:
        return (self.default_image, *self.images)

    @property
    def allowed_service_accounts(self) -> tuple[str, ...]:
        return (self.default_service_account or DEFAULT_SERVICE_ACCOUNT, *self.service_accounts)

    def image_for(self, spec: Mapping[str, Any]) -> str:
        return str(((spec.get("job") or {}).get("image")) or self.default_image)

    def service_account_for(self, spec: Mapping[str, Any]) -> str | None:
        asked = (spec.get("job") or {}).get("serviceAccountName")
        return str(asked) if asked else self.default_service_account

    def mounts_token(self, service_account: str | None) -> bool:
        name = service_account or DEFAULT_SERVICE_ACCOUNT
        return ANY in self.api_service_accounts or name in self.api_service_accounts


@dataclasses.dataclass(frozen=True)
class Violation:
    """One thing a SchemaVersion asked for that the policy does not allow."""

    what: str  # e.g. "image 'evil:1'"
    allowed: str  # what is allowed, for the message
    setting: str  # the operator flag and chart value that would allow it

    def __str__(self) -> str:
        return f"{self.what}: not allowed (allowed: {self.allowed}; to allow it: {self.setting})"


def _listing(entries: Sequence[str]) -> str:
    return ", ".join(entries) if entries else "none"


def check(spec: Mapping[str, Any], policy: JobPolicy) -> list[Violation]:
    """Everything in ``spec`` the policy refuses (empty: the Job may be created)."""
    out: list[Violation] = []
    job: Mapping[str, Any] = spec.get("job") or {}
    image = policy.image_for(spec)
    if not image_allowed(image, policy.allowed_images):
        malformed = " (not a valid image reference)" if parse_image(image) is None else ""
        out.append(
            Violation(
                f"spec.job.image {image!r}{malformed}",
                _listing(policy.allowed_images),
                "operator flag --allowed-job-image, chart value jobs.policy.images",
            )
        )
    account = policy.service_account_for(spec)
    if account is not None and not (
        account in policy.allowed_service_accounts or ANY in policy.service_accounts
    ):
        out.append(
            Violation(
                f"spec.job.serviceAccountName {account!r}",
                _listing(policy.allowed_service_accounts),
                "operator flag --allowed-job-service-account, chart value "
                "jobs.policy.serviceAccounts",
            )
        )
    snapshot: Mapping[str, Any] = spec.get("snapshot") or {}
    volume = snapshot.get("volume")
    if snapshot.get("policy") == "Full" and volume is not None:
        kinds = sorted(k for k in (volume if isinstance(volume, Mapping) else {}) if k != "name")
        if len(kinds) != 1:
            out.append(
                Violation(
                    f"spec.snapshot.volume with volume type(s) {kinds or 'none'}",
                    "exactly one volume type, e.g. {persistentVolumeClaim: {claimName: backups}}",
                    "fix spec.snapshot.volume",
                )
            )
        elif not (kinds[0] in policy.volume_types or ANY in policy.volume_types):
            out.append(
                Violation(
                    f"spec.snapshot.volume of type {kinds[0]!r}",
                    _listing(policy.volume_types),
                    "operator flag --allowed-snapshot-volume-type, chart value "
                    "jobs.policy.snapshotVolumeTypes",
                )
            )
    for field, entries, note, setting in (
        (
            "podAnnotations",
            policy.pod_annotations,
            " (security annotations such as AppArmor or seccomp only when named exactly)"
            if policy.pod_annotations
            else "",
            "operator flag --allowed-job-pod-annotation, chart value jobs.policy.podAnnotations",
        ),
        (
            "podLabels",
            policy.pod_labels,
            " (labels select NetworkPolicies and Services)",
            "operator flag --allowed-job-pod-label, chart value jobs.policy.podLabels",
        ),
    ):
        denied = sorted(k for k in (job.get(field) or {}) if not _key_allowed(k, entries))
        if denied:
            out.append(
                Violation(
                    f"spec.job.{field} {'key' if len(denied) == 1 else 'keys'} "
                    + ", ".join(repr(k) for k in denied),
                    _listing(entries) + note,
                    setting,
                )
            )
    selected = sorted(
        k
        for k in (job.get("nodeSelector") or {})
        if not _key_allowed(str(k), policy.node_selectors, NODE_ROLE_LABELS)
    )
    if selected:
        out.append(
            Violation(
                f"spec.job.nodeSelector {'key' if len(selected) == 1 else 'keys'} "
                + ", ".join(repr(k) for k in selected),
                _listing(policy.node_selectors)
                + " (a node selector chooses the nodes the Job runs on; node-role.kubernetes.io/"
                " and kubernetes.io/hostname keys only when named exactly)",
                "operator flag --allowed-job-node-selector, chart value jobs.policy.nodeSelectors",
            )
        )
    tolerated = sorted(
        {
            str(t.get("key") or "") if isinstance(t, Mapping) else "?"
            for t in (job.get("tolerations") or [])
        }
    )
    refused = [
        k
        for k in tolerated
        if not (
            ANY in policy.tolerations if k in ("", "?") else _key_allowed(k, policy.tolerations)
        )
    ]
    if refused:
        out.append(
            Violation(
                "spec.job.tolerations of taint "
                + ", ".join("every key (no key)" if k == "" else repr(k) for k in refused),
                _listing(policy.tolerations) + " (tolerations let the Job onto tainted nodes)",
                "operator flag --allowed-job-toleration, chart value jobs.policy.tolerations",
            )
        )
    return out

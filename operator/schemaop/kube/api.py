"""The one module that calls the Kubernetes API.

Everything else gets plain dicts (camelCase, as the API serves them) and hands
plain dicts back; tests of the operator's logic never need an API server, and
the e2e tests use a real one. Calls go through the synchronous ``kubernetes``
client in a worker thread, so the kopf event loop never blocks.

The console's calls are made with a person's own identity: :class:`UserKubeApi`
(a :class:`KubeApi` built from the person's bearer token, :func:`token_client`,
or from the kubeconfig in local mode) adds the reads it needs: who the caller
is, Events, Jobs and pods, namespaces, and two streams (a watch of schemaop
objects, a pod's log followed) read in a worker thread and handed to the event
loop line by line. No Secret is read for the console.

Status is written in one place, :meth:`KubeApi.update_status`: it applies a pure
mutator to the current object's status, skips the write when nothing changed,
and retries on a conflict (HTTP 409) with the object re-read. Status messages
and Event messages pass through the scrubber (:mod:`schemaop.redaction`) here,
the one place both are written.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from schemaop import redaction
from schemaop.kube.builders import CONTAINER, PodLog, controlled_by
from schemaop.model.names import GROUP, VERSION

log = logging.getLogger(__name__)

StatusMutator = Callable[[dict[str, Any]], dict[str, Any]]
# The most of a pod's log read at once (the tail a run record keeps is smaller).
LOG_READ_LIMIT = 1024 * 1024


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status (0 when unknown).

    The one verdict on an API error is :attr:`invalid`: the API server refused the
    object as it was built (400, 422), so sending it again cannot help and the spec
    it came from must change. Every other failure (a conflict, throttling, RBAC, an
    outage) is retried by the reconcile loop with backoff
    (:mod:`schemaop.operator.handlers`); a 409 on a status write is retried at once,
    with the object re-read (:meth:`KubeApi.update_status`).
    """

    def __init__(
        self, message: str, status: int = 0, reason: str = "", api_message: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        # The API server's own words: its Status ``reason`` (Forbidden, NotFound,
        # Conflict, Invalid...) and ``message``, for callers that pass a refusal on as is.
        self.reason = reason
        self.api_message = api_message

    @property
    def invalid(self) -> bool:
        return self.status in (400, 422)


class SecretNotFound(Exception):
    """The connection Secret, or the key in it, does not exist."""


class SecretNotLabelled(SecretNotFound):
    """The connection Secret lacks the labels the operator requires (``--secret-selector``)."""


class KubeConfigError(Exception):
    """No usable kubeconfig (file, context)."""


def secret_key(
    secret: Mapping[str, Any] | None,
    namespace: str,
    name: str,
    key: str,
    required_labels: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """One key of a Secret as read (or as a watch holds it), decoded, and the
    Secret's annotations. With ``required_labels`` (the operator's
    ``--secret-selector``), a Secret without every one of them is refused before
    its data is looked at. The errors name the Secret and the key, never a value."""
    if secret is None:
        raise SecretNotFound(f"Secret {namespace}/{name} does not exist")
    labels = (secret.get("metadata") or {}).get("labels") or {}
    missing = {k: v for k, v in (required_labels or {}).items() if labels.get(k) != v}
    if missing:
        wanted = " ".join(f"{k}={v}" for k, v in sorted(missing.items()))
        raise SecretNotLabelled(
            f"Secret {namespace}/{name} is not labelled {wanted}, and this operator uses "
            f"only Secrets labelled so (--secret-selector); if it is meant for schemaop, "
            f"label it: kubectl label secret {name} -n {namespace} {wanted}"
        )
    data = secret.get("data") or {}
    if key not in data:
        raise SecretNotFound(f"Secret {namespace}/{name} has no key {key!r}")
    annotations = dict((secret.get("metadata") or {}).get("annotations") or {})
    try:
        return base64.b64decode(data[key], validate=True).decode("utf-8"), annotations
    except (ValueError, UnicodeDecodeError):
        # `from None`: a UnicodeDecodeError carries the bytes it could not decode,
        # which would put part of the Secret into a traceback or a log line.
        raise SecretNotFound(
            f"Secret {namespace}/{name} key {key!r} is not UTF-8 text: store the "
            "connection string (or password) as UTF-8"
        ) from None


def load_config() -> None:
    """Configure the default client: in-cluster when running in a pod, else the kubeconfig."""
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]


def client_from_kubeconfig(path: str | None, context: str | None) -> tuple[Any, str]:
    """A client for ``context`` (default: the active one) of the kubeconfig at ``path``
    (default: $KUBECONFIG or ~/.kube/config), and that context's namespace."""
    try:
        contexts, active = k8s_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=path
        )
        if context:
            chosen = next((c for c in contexts if c["name"] == context), None)
            if chosen is None:
                raise KubeConfigError(f"context {context!r} not found")
        else:
            chosen = active
        namespace = chosen.get("context", {}).get("namespace") or "default"
        client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context
        )
    except (k8s_config.ConfigException, OSError, TypeError) as exc:
        raise KubeConfigError(str(exc)) from exc
    return client, namespace


def _wrap(exc: ApiException, what: str) -> KubeError:
    reason = exc.reason or ""
    api_reason = ""
    with contextlib.suppress(ValueError, AttributeError):
        body = json.loads(exc.body or "{}")
        reason = body.get("message", reason)
        api_reason = str(body.get("reason") or "")
    return KubeError(
        f"{what}: {exc.status} {reason}", int(exc.status or 0), api_reason, str(reason)
    )


class KubeApi:
    """Typed, dict-in dict-out access to the few API calls the operator makes."""

    # Called with the verb of every request (the operator counts them in its metrics).
    on_request: Callable[[str], None] | None = None

    def __init__(
        self,
        api_client: k8s.ApiClient | None = None,
        on_request: Callable[[str], None] | None = None,
        connections: int | None = None,
    ) -> None:
        """``connections``: how many HTTP connections to keep (the client's default is
        5 per CPU); more requests in flight than that open and close a TLS
        connection each, so keep it at least the number of worker threads."""
        if api_client is None:
            configuration = k8s.Configuration.get_default_copy()
            if connections:
                configuration.connection_pool_maxsize = connections
            api_client = k8s.ApiClient(configuration)
        self.client = api_client
        self.on_request = on_request
        self.core = k8s.CoreV1Api(self.client)
        self.batch = k8s.BatchV1Api(self.client)
        self.custom = k8s.CustomObjectsApi(self.client)

    # -- plumbing -------------------------------------------------------------

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API request; ``what`` starts with its verb (handed to ``on_request``)."""
        if self.on_request is not None:
            self.on_request(what.split(" ", 1)[0])

        def go() -> Any:
            try:
                response = fn(*args, _preload_content=False, **kwargs)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise _wrap(exc, what) from exc
            return json.loads(response.data or b"null")

        return await asyncio.to_thread(go)

    # -- discovery ------------------------------------------------------------

    async def served_resources(self, group: str, version: str) -> set[str]:
        """The resources (plurals) the API server's discovery lists for ``group/version``
        now; empty while it does not list the group (for a few seconds after the API
        server starts, the paths of custom resources are not installed yet)."""

        def go() -> set[str]:
            try:
                groups = k8s.ApisApi(self.client).get_api_versions()
                listed = any(
                    g.name == group and any(v.version == version for v in g.versions or [])
                    for g in groups.groups or []
                )
                if not listed:
                    return set()
                found = self.custom.get_api_resources(group, version)
            except (ApiException, OSError, urllib3.exceptions.HTTPError):
                return set()
            return {r.name for r in found.resources or []}

        return await asyncio.to_thread(go)

    # -- schemaop resources ---------------------------------------------------

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        result = await self._call(
            f"get {plural} {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
        )
        return dict(result) if result else None

    async def list_custom(
        self, plural: str, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects of one plural in a namespace, or in every namespace when it is None."""
        kwargs = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            result = await self._call(
                f"list {plural} in all namespaces",
                self.custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                plural,
                **kwargs,
            )
        else:
            result = await self._call(
                f"list {plural} in {namespace}",
                self.custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                plural,
                **kwargs,
            )
        return list((result or {}).get("items", []))

    async def patch_custom(
        self, plural: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """A JSON merge patch of a schemaop object (spec or metadata); None if it is gone."""
        result = await self._call(
            f"patch {plural} {namespace}/{name}",
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            dict(patch),
        )
        return dict(result) if result else None

    async def create_custom(self, plural: str, obj: Mapping[str, Any]) -> bool:
        """Create a schemaop object; False (not an error) when one of that name exists."""
        meta = obj["metadata"]
        try:
            await self._call(
                f"create {plural} {meta['namespace']}/{meta['name']}",
                self.custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                meta["namespace"],
                plural,
                dict(obj),
            )
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def delete_custom(self, plural: str, namespace: str, name: str) -> None:
        """Delete a schemaop object (gone already: nothing to do)."""
        await self._call(
            f"delete {plural} {namespace}/{name}",
            self.custom.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
        )

    async def update_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        mutate: StatusMutator,
        *,
        attempts: int = 6,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Apply ``mutate`` to the current status and write it; the object as the API
        server answered, or as given when nothing changed (shared with the caller's:
        read it, do not modify it), or None if the object is gone. ``current`` must be
        the caller's own copy, never kopf's live body: the write's worker thread
        reads it while the event loop runs.

        A no-op (the mutated status equals the current one) is not written.
        ``current``: the object as the caller just read it (from a get, or the
        operator's watch-fed index), used instead of a new read for the first
        attempt: the write carries its resourceVersion, so if it is stale the API
        server answers 409 and the object is read anew.
        """
        for attempt in range(attempts):
            if attempt == 0 and current is not None:
                # Not copied: only its status is (most looks write nothing), and the
                # object sent is a new dict beside it.
                obj: dict[str, Any] | None = dict(current)
            else:
                obj = await self.get_custom(plural, namespace, name)
            if obj is None:
                return None
            old = obj.get("status") or {}
            # The one place status is written: its human text goes through the scrubber.
            new = redaction.scrub_messages(mutate(copy.deepcopy(old)))
            if new == old:
                return obj
            obj = {**obj, "status": new}
            try:
                result = await self._call(
                    f"update status of {plural} {namespace}/{name}",
                    self.custom.replace_namespaced_custom_object_status,
                    GROUP,
                    VERSION,
                    namespace,
                    plural,
                    name,
                    obj,
                )
                return dict(result) if result else None
            except KubeError as exc:
                if exc.status != 409 or attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        return None

    async def patch_annotations(
        self, plural: str, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        await self._call(
            f"annotate {plural} {namespace}/{name}",
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            {"metadata": {"annotations": dict(annotations)}},
        )

    # -- secrets --------------------------------------------------------------

    async def read_secret_key(
        self,
        namespace: str,
        name: str,
        key: str,
        required_labels: Mapping[str, str] | None = None,
    ) -> str:
        """One key of one Secret, read by name (``get``; never a list or watch).

        With ``required_labels`` (the operator's ``--secret-selector``), a Secret
        without every one of them is refused before its data is looked at.
        """
        value, _ = await self.read_secret_key_annotated(namespace, name, key, required_labels)
        return value

    async def read_secret_key_annotated(
        self,
        namespace: str,
        name: str,
        key: str,
        required_labels: Mapping[str, str] | None = None,
    ) -> tuple[str, dict[str, str]]:
        """:meth:`read_secret_key`, and the Secret's annotations (one ``get``)."""
        secret = await self.read_secret(namespace, name)
        return secret_key(secret, namespace, name, key, required_labels)

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A whole Secret, read by name (``get``); None when it does not exist. Never
        logged: hand it to :func:`secret_key`."""
        secret: dict[str, Any] | None = await self._call(
            f"get secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace
        )
        return secret

    # -- plan ConfigMaps and Jobs -----------------------------------------------

    async def create_if_absent(self, obj: Mapping[str, Any]) -> bool:
        """Create a ConfigMap or Job; False (not an error) when it already exists."""
        kind, ns = obj["kind"], obj["metadata"]["namespace"]
        fn: Callable[..., Any] = (
            self.core.create_namespaced_config_map
            if kind == "ConfigMap"
            else self.batch.create_namespaced_job
        )
        try:
            await self._call(f"create {kind} {ns}/{obj['metadata']['name']}", fn, ns, obj)
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        result = await self._call(
            f"list jobs in {namespace}",
            self.batch.list_namespaced_job,
            namespace,
            label_selector=label_selector,
        )
        return list((result or {}).get("items", []))

    async def delete_job(self, namespace: str, name: str, uid: str) -> None:
        """Delete a Job and (in the background) its pods, which get SIGTERM and their
        grace period. Only the Job with this UID (a Job of the same name made since is
        left alone); one already gone is not an error."""
        body = {"propagationPolicy": "Background", "preconditions": {"uid": uid}}
        await self._call(
            f"delete job {namespace}/{name}",
            self.batch.delete_namespaced_job,
            name,
            namespace,
            body=body,
        )

    async def job_termination_message(
        self, namespace: str, job_meta: Mapping[str, Any]
    ) -> str | None:
        """The termination message of the Job's newest finished pod, if any: only pods
        the Job controls (by its UID), not any pod carrying its ``job-name`` label."""
        for pod in await self._job_pods(namespace, job_meta):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (status.get("state") or {}).get("terminated") or {}
                if terminated.get("message"):
                    return str(terminated["message"])
        return None

    async def _job_pods(self, namespace: str, job_meta: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The pods the Job controls (by its UID, not only its ``job-name`` label), newest
        first."""
        job_name = str(job_meta["name"])
        result = await self._call(
            f"list pods of job {namespace}/{job_name}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=f"job-name={job_name}",
        )
        return sorted(
            (
                p
                for p in (result or {}).get("items", [])
                if controlled_by(p, job_meta.get("uid", ""))
            ),
            key=lambda p: p["metadata"].get("creationTimestamp", ""),
            reverse=True,
        )

    async def job_pod_log(
        self, namespace: str, job_meta: Mapping[str, Any], container: str, tail_lines: int
    ) -> PodLog:
        """The end of the log of the Job's newest pod: its last ``tail_lines`` lines, as
        text, not yet scrubbed (the caller masks secrets before keeping any of it:
        :func:`schemaop.kube.builders.clip_log`).

        The API server cuts at ``limitBytes`` from the start of what it sends, so
        when ``tail_lines`` lines are more than :data:`LOG_READ_LIMIT` bytes, fewer
        lines are asked for: the end of the log is what counts."""
        pods = await self._job_pods(namespace, job_meta)
        if not pods:
            return PodLog(unavailable="the Job's pod was gone")
        pod = str(pods[0]["metadata"]["name"])

        def go() -> PodLog:
            data = b""
            for lines in (tail_lines, min(tail_lines, 50), 1):
                try:
                    response: Any = self.core.read_namespaced_pod_log(
                        pod,
                        namespace,
                        container=container,
                        tail_lines=lines,
                        limit_bytes=LOG_READ_LIMIT,
                        _preload_content=False,
                    )
                except ApiException as exc:
                    if exc.status == 404:
                        return PodLog(pod, unavailable=f"pod {pod} was gone")
                    return PodLog(pod, unavailable=str(_wrap(exc, f"read the log of pod {pod}")))
                except Exception as exc:  # the connection: a record without its log
                    return PodLog(pod, unavailable=f"the log of pod {pod} was not read: {exc}")
                data = response.data or b""
                if len(data) < LOG_READ_LIMIT:
                    break
            return PodLog(pod, text=data.decode("utf-8", errors="replace"))

        return await asyncio.to_thread(go)

    # -- events ---------------------------------------------------------------

    async def post_event(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        """Record a Kubernetes Event on an object. Failures are logged, never raised."""
        meta = involved["metadata"]
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", f"{GROUP}/{VERSION}"),
                "kind": involved.get("kind", "SchemaVersion"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": redaction.scrub(message)[:1024],
            "source": {"component": "schemaop"},
            "reportingComponent": f"{GROUP}/operator",
            "reportingInstance": "schemaop",
            "firstTimestamp": now[:19] + "Z",
            "lastTimestamp": now[:19] + "Z",
            "count": 1,
        }
        try:
            await self._call(
                "post event", self.core.create_namespaced_event, meta["namespace"], event
            )
        except KubeError as exc:
            log.warning("could not post event %s on %s: %s", reason, meta["name"], exc)


# --- the console: calls with a person's own identity ------------------------------------

# A watch is ended by the API server after this long (the console's stream then
# ends too and the browser reconnects, listing again).
WATCH_SECONDS = 300
_QUEUE = 1000


def token_client(api_server: str, ca_file: str | None, token: str) -> k8s.ApiClient:
    """A client for ``api_server`` that authenticates with ``token`` (and nothing else)."""
    configuration = k8s.Configuration()
    configuration.host = api_server.rstrip("/")
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    if ca_file:
        configuration.ssl_ca_cert = ca_file
    configuration.connection_pool_maxsize = 4
    return k8s.ApiClient(configuration)


@dataclasses.dataclass(frozen=True)
class Dropped:
    """``count`` lines of a stream left out here: its reader was too slow for them.

    The reading thread never waits for the reader (a reader that left would keep
    it, and its connection, forever): past :data:`_QUEUE` lines waiting, a line is
    dropped and counted, and the count stands in the stream where they were.
    """

    count: int


async def _lines(opener: Callable[[], Any]) -> AsyncIterator[bytes | Dropped]:
    """The lines of a streamed response (``opener`` makes the request, in a thread),
    as they arrive, with a :class:`Dropped` where lines were left out; the request is
    closed when the consumer stops."""
    loop = asyncio.get_running_loop()
    # Bounded by offer(): lines wait up to _QUEUE; a Dropped and the end always fit.
    queue: asyncio.Queue[bytes | Dropped | BaseException | None] = asyncio.Queue()
    holder: dict[str, Any] = {}
    stop = threading.Event()
    dropped = 0  # lines left out since the last one queued (read and written on the loop)

    def offer(item: bytes | BaseException | None) -> None:
        nonlocal dropped
        if isinstance(item, bytes) and queue.qsize() >= _QUEUE:
            dropped += 1
            return
        if dropped:
            queue.put_nowait(Dropped(dropped))
            dropped = 0
        queue.put_nowait(item)

    def put(item: bytes | BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            loop.call_soon_threadsafe(offer, item)

    def go() -> None:
        response = None
        try:
            response = opener()
            holder["response"] = response
            if stop.is_set():  # the consumer left while the request was made
                return
            pending = b""
            for chunk in response.stream(4096, decode_content=True):
                if stop.is_set():
                    break
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    put(line)
            if pending and not stop.is_set():
                put(pending)
            put(None)
        except ApiException as exc:
            put(_wrap(exc, "stream"))
        except Exception as exc:  # the connection dropped or was closed by us
            put(None if stop.is_set() else exc)
        finally:
            if response is not None:
                with contextlib.suppress(Exception):
                    response.close()

    thread = threading.Thread(target=go, name="schemaop-console-stream", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                if isinstance(item, KubeError):
                    raise item
                return  # a dropped stream ends; the client reconnects
            yield item
    finally:
        stop.set()
        response = holder.get("response")
        if response is not None:
            # Wake the thread's read (urllib3 shuts the socket down for reading; closing
            # it here would wait for the read's lock, up to the end of the watch): the
            # thread then closes the response and its connection.
            with contextlib.suppress(Exception):
                response.shutdown()


class UserKubeApi(KubeApi):
    """:class:`KubeApi` with the person's credentials, and the console's reads."""

    async def whoami(self) -> tuple[str, list[str]]:
        """The caller's user name and groups (a SelfSubjectReview); KubeError 401 if the
        credentials are not accepted."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        api = k8s.AuthenticationV1Api(self.client)
        result = await self._call("create selfsubjectreview", api.create_self_subject_review, body)
        info = ((result or {}).get("status") or {}).get("userInfo") or {}
        return str(info.get("username") or ""), [str(g) for g in info.get("groups") or []]

    async def can(self, verb: str, resource: str, namespace: str | None) -> bool:
        """Whether the caller may ``verb`` schemaop ``resource`` (a SelfSubjectAccessReview)."""
        attributes: dict[str, Any] = {"group": GROUP, "resource": resource, "verb": verb}
        if namespace is not None:
            attributes["namespace"] = namespace
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        api = k8s.AuthorizationV1Api(self.client)
        result = await self._call(
            "create selfsubjectaccessreview", api.create_self_subject_access_review, body
        )
        return bool(((result or {}).get("status") or {}).get("allowed"))

    async def list_namespaces(self) -> list[str]:
        result = await self._call("list namespaces", self.core.list_namespace)
        return sorted(str(n["metadata"]["name"]) for n in (result or {}).get("items", []))

    async def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """The Events about one object, oldest first."""
        result = await self._call(
            f"list events in {namespace}",
            self.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.kind={kind},involvedObject.name={name}",
        )
        items = list((result or {}).get("items", []))
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        result = await self._call(
            f"get job {namespace}/{name}", self.batch.read_namespaced_job, name, namespace
        )
        return dict(result) if result else None

    async def job_pods(self, namespace: str, job_meta: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The pods the Job controls, newest first."""
        return await self._job_pods(namespace, job_meta)

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        result = await self._call(
            f"get pod {namespace}/{name}", self.core.read_namespaced_pod, name, namespace
        )
        return dict(result) if result else None

    async def watch_custom(
        self, plural: str, namespace: str | None, seconds: int = WATCH_SECONDS
    ) -> AsyncIterator[dict[str, Any] | Dropped]:
        """A watch of one schemaop plural (every object first, as ADDED, then each
        change), in a namespace or all of them; ends after ``seconds``. A
        :class:`Dropped` stands where events were left out (a slow reader)."""
        kwargs: dict[str, Any] = {
            "watch": True,
            "timeout_seconds": seconds,
            "_preload_content": False,
            "_request_timeout": (10, seconds + 30),
        }

        def opener() -> Any:
            if namespace is None:
                return self.custom.list_cluster_custom_object(GROUP, VERSION, plural, **kwargs)
            return self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, **kwargs
            )

        async for line in _lines(opener):
            if isinstance(line, Dropped):  # watch events missed: the reader lists again
                yield line
                continue
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                raise KubeError(
                    f"watch {plural}: {status.get('message', '')}",
                    int(status.get("code") or 0),
                    str(status.get("reason") or ""),
                    str(status.get("message") or ""),
                )
            if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                yield event

    async def follow_log(self, namespace: str, pod: str) -> AsyncIterator[str | Dropped]:
        """The log of the migration container of ``pod`` from its start, followed until
        the container ends (not yet scrubbed: the caller masks secrets); a
        :class:`Dropped` stands where lines were left out (a slow reader)."""

        def opener() -> Any:
            return self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=CONTAINER,
                follow=True,
                _preload_content=False,
                _request_timeout=(10, 24 * 3600),
            )

        async for line in _lines(opener):
            yield line if isinstance(line, Dropped) else line.decode("utf-8", errors="replace")

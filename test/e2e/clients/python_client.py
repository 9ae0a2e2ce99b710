"""The official Kubernetes Python client (Debian's python3-kubernetes) against an Outpost hub.

Driven by test/e2e/clients-python.test.ts, which starts the hub:

    /usr/bin/python3 python_client.py KUBECONFIG SCENARIO NAMESPACE

Each scenario asserts what the client sees, in the namespace it is given (created here), and
prints `ok SCENARIO` last; a failure exits non-zero with the traceback.
"""

import json
import sys

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

OUTPOST = "outpost.dev"
OUTPOST_VERSION = "v1alpha1"


def workload(name, image="nginx:1.27"):
    """A Workload running one Deployment, as an Outpost user writes it."""
    return {
        "apiVersion": f"{OUTPOST}/{OUTPOST_VERSION}",
        "kind": "Workload",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "resources": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": name},
                    "spec": {
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{"name": name, "image": image}]},
                        },
                    },
                }
            ]
        },
    }


def config_map(name, data, labels=None):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}), data=data
    )


def expect_status(status, call):
    """Runs `call`, which must fail with the HTTP `status`; returns the ApiException."""
    try:
        call()
    except ApiException as error:
        assert error.status == status, f"expected {status}, got {error.status}: {error.body}"
        return error
    raise AssertionError(f"expected {status}, the call succeeded")


def crud(api, ns):
    """Typed clients: ConfigMaps, Secrets, RBAC and a custom kind, created, read, changed, deleted."""
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(ns, config_map("settings", {"level": "info"}, {"app": "web"}))
    assert created.metadata.uid and created.metadata.resource_version
    core.create_namespaced_config_map(ns, config_map("other", {"level": "warn"}, {"app": "db"}))
    listed = core.list_namespaced_config_map(ns, label_selector="app=web")
    assert [item.metadata.name for item in listed.items] == ["settings"], listed.items
    # A dict body is sent as a strategic merge patch by this client.
    patched = core.patch_namespaced_config_map("settings", ns, {"data": {"mode": "fast"}})
    assert patched.data == {"level": "info", "mode": "fast"}, patched.data
    patched.data["level"] = "debug"
    replaced = core.replace_namespaced_config_map("settings", ns, patched)
    assert replaced.data["level"] == "debug"
    stale = replaced
    stale.metadata.resource_version = created.metadata.resource_version
    expect_status(409, lambda: core.replace_namespaced_config_map("settings", ns, stale))
    secret = core.create_namespaced_secret(
        ns,
        client.V1Secret(metadata=client.V1ObjectMeta(name="token"), string_data={"password": "s3cret"}),
    )
    assert secret.data == {"password": "czNjcmV0"}, secret.data
    core.delete_namespaced_config_map("other", ns)
    expect_status(404, lambda: core.read_namespaced_config_map("other", ns))

    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(
        ns,
        {
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
        },
    )
    # Strategic merge patch on an RBAC kind: its rules are an atomic list, replaced whole.
    role = rbac.patch_namespaced_role(
        "reader", ns, {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]}
    )
    assert [(rule.resources, rule.verbs) for rule in role.rules] == [(["secrets"], ["list"])], role.rules

    custom = client.CustomObjectsApi(api)
    plural = (OUTPOST, OUTPOST_VERSION, ns, "workloads")
    custom.create_namespaced_custom_object(*plural, workload("web"))
    got = custom.get_namespaced_custom_object(*plural, "web")
    assert got["spec"]["resources"][0]["kind"] == "Deployment"
    # This client sends a merge patch for custom objects.
    labelled = custom.patch_namespaced_custom_object(*plural, "web", {"metadata": {"labels": {"tier": "edge"}}})
    assert labelled["metadata"]["labels"] == {"app": "web", "tier": "edge"}, labelled["metadata"]
    items = custom.list_namespaced_custom_object(*plural, label_selector="tier=edge")["items"]
    assert [item["metadata"]["name"] for item in items] == ["web"]
    custom.delete_namespaced_custom_object(*plural, "web")
    expect_status(404, lambda: custom.get_namespaced_custom_object(*plural, "web"))


def watches(api, ns):
    """Watches (`watch=True`): from a resourceVersion, resumed, with bookmarks, and initial events."""
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, config_map("first", {"n": "0"}))
    start = core.list_namespaced_config_map(ns).metadata.resource_version
    core.patch_namespaced_config_map("first", ns, {"data": {"n": "1"}})
    core.create_namespaced_config_map(ns, config_map("second", {"n": "0"}))
    core.delete_namespaced_config_map("first", ns)

    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name, event["object"].metadata.resource_version))
        if len(seen) == 3:
            w.stop()
    assert [(kind, name) for kind, name, _ in seen] == [
        ("MODIFIED", "first"),
        ("ADDED", "second"),
        ("DELETED", "first"),
    ], seen

    # Resumed from the first event's resourceVersion: what followed it, nothing twice.
    w = watch.Watch()
    resumed = []
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=seen[0][2], timeout_seconds=5):
        resumed.append((event["type"], event["object"].metadata.name))
        if len(resumed) == 2:
            w.stop()
    assert resumed == [("ADDED", "second"), ("DELETED", "first")], resumed

    # Bookmarks (`allowWatchBookmarks=True`), sent every second by the test's hub.
    w = watch.Watch()
    bookmarks = []
    for event in w.stream(
        core.list_namespaced_config_map,
        ns,
        resource_version=seen[2][2],
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    ):
        if event["type"] == "BOOKMARK":
            bookmarks.append(event["raw_object"]["metadata"]["resourceVersion"])
            w.stop()
    assert len(bookmarks) == 1 and int(bookmarks[0]) >= int(seen[2][2]), bookmarks

    # Without a resourceVersion the current objects come first, as ADDED.
    w = watch.Watch()
    initial = []
    for event in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=5):
        initial.append((event["type"], event["object"].metadata.name))
        w.stop()
    assert initial == [("ADDED", "second")], initial

    # A custom kind, watched through the custom objects client.
    custom = client.CustomObjectsApi(api)
    plural = (OUTPOST, OUTPOST_VERSION, ns, "workloads")
    listed = custom.list_namespaced_custom_object(*plural)
    custom.create_namespaced_custom_object(*plural, workload("watched"))
    w = watch.Watch()
    for event in w.stream(
        custom.list_namespaced_custom_object,
        *plural,
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=5,
    ):
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "watched"), event
        w.stop()
    assert w.resource_version is not None


def apply(api, ns):
    """Server-side apply through the dynamic client (its typed API in this version has none), forced with `force=True`."""
    dyn = dynamic.DynamicClient(api)
    config_maps = dyn.resources.get(api_version="v1", kind="ConfigMap")

    def applied(manager, level, force=None):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"level": level}}
        # This client version sends only a string body as application/apply-patch+yaml.
        return config_maps.server_side_apply(
            body=json.dumps(body), name="applied", namespace=ns, field_manager=manager, force_conflicts=force
        )

    first = applied("team-a", "info")
    assert first.data.level == "info"
    assert [entry.manager for entry in first.metadata.managedFields] == ["team-a"]
    try:
        applied("team-b", "debug")
        raise AssertionError("a conflicting apply was accepted")
    except dynamic.exceptions.ConflictError as error:
        assert "level" in str(error.body), error.body
    forced = applied("team-b", "debug", force=True)
    assert forced.data.level == "debug"
    # Forced, team-b took the only field team-a owned: team-a owns nothing any more.
    assert [entry.manager for entry in forced.metadata.managedFields] == ["team-b"], forced.metadata


def discovery(api, ns):
    """The dynamic client discovers every kind (legacy discovery documents) and works with any."""
    dyn = dynamic.DynamicClient(api)
    workloads = dyn.resources.get(api_version=f"{OUTPOST}/{OUTPOST_VERSION}", kind="Workload")
    assert workloads.name == "workloads" and workloads.namespaced
    devices = dyn.resources.get(api_version=f"{OUTPOST}/{OUTPOST_VERSION}", kind="Device")
    assert devices.namespaced is False
    roles = dyn.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="Role")
    assert roles.name == "roles"

    workloads.create(body=workload("dyn"), namespace=ns)
    assert workloads.get(name="dyn", namespace=ns).spec.resources[0].kind == "Deployment"
    names = [item.metadata.name for item in workloads.get(namespace=ns).items]
    assert names == ["dyn"], names
    device = f"{ns}-gw"
    devices.create(body={"apiVersion": f"{OUTPOST}/{OUTPOST_VERSION}", "kind": "Device", "metadata": {"name": device}})
    assert devices.get(name=device).metadata.name == device
    devices.delete(name=device)
    workloads.delete(name="dyn", namespace=ns)

    reviews = client.AuthorizationV1Api(api)
    answer = reviews.create_subject_access_review(
        client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user="nobody",
                resource_attributes=client.V1ResourceAttributes(namespace=ns, verb="get", resource="configmaps"),
            )
        )
    )
    assert answer.status.allowed is False, answer.status


SCENARIOS = {"crud": crud, "watches": watches, "apply": apply, "discovery": discovery}


def main():
    kubeconfig, scenario, ns = sys.argv[1:4]
    config.load_kube_config(kubeconfig)
    api = client.ApiClient()
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    SCENARIOS[scenario](api, ns)
    print(f"ok {scenario}")


if __name__ == "__main__":
    main()

"""The deployment files under infra/ agree with each other and with the edge.

No container engine runs here, so nothing is started: these tests read the
Compose stack, the NATS, nginx, Prometheus and Grafana configurations and the
Kubernetes manifests, and check that every name, path, port, setting and
metric they mention exists where they expect it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import re
import shlex
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bridge import natsserver
from bridge.instruments import EdgeMetrics
from bridge.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"

NATS_SERVICES = ("nats-1", "nats-2", "nats-3")
EDGE_SERVICES = ("edge-1", "edge-2")
EDGE_PORT = Settings().port
NATS_CLIENT_PORT = 4222
NATS_CLUSTER_PORT = 6222

# Registered by bridge/app.py on the edge's registry, next to EdgeMetrics.
READY_GAUGE = "realtime_edge_ready"


# -- reading the files ---------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((INFRA / "compose.yaml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def bridge_services() -> list[str]:
    """The services running the edge's image: both edges and the demo."""
    return [name for name, service in services().items() if "build" in service]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, either spelling, with ``${VAR:-default}``
    replaced by its default as Compose does when VAR is unset."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    return {
        name: re.sub(r"\$\{\w+(?::?-([^}]*))?\}", r"\1", str(value))
        for name, value in raw.items()
    }


def depends_on(service: dict[str, Any]) -> list[str]:
    return list(service.get("depends_on") or [])


def volumes(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(source, target) of each volume, short or long syntax."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            yield volume["source"], volume["target"]
        else:
            source, target, *_ = volume.split(":")
            yield source, target


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def host_ports(service: dict[str, Any]) -> Iterator[tuple[int, int, str]]:
    """(host port, container port, protocol) of each published port."""
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if "published" in port:
                yield (
                    int(port["published"]),
                    int(port["target"]),
                    port.get("protocol", "tcp"),
                )
            continue
        spec, _, protocol = str(port).partition("/")
        parts = spec.split(":")
        if len(parts) >= 2:
            yield int(parts[-2]), int(parts[-1]), protocol or "tcp"


@functools.cache
def nats_conf(service: str) -> str:
    return (INFRA / "nats" / f"{service}.conf").read_text()


def conf_value(text: str, key: str) -> str:
    """``key: value`` (or ``key = value``, ``key value``) outside any block of
    a NATS configuration, or of one block's body."""
    outside = re.sub(r"^\w+\s*\{.*?^\}", "", text, flags=re.M | re.S)
    found = re.search(rf"^\s*{key}\s*[:=]?\s*\"?([^\"\s]+)\"?\s*$", outside, re.M)
    assert found, f"no {key} in the configuration"
    return found.group(1)


def conf_block(text: str, name: str) -> str:
    """The body of ``name { ... }``; the blocks used here nest no braces."""
    found = re.search(rf"^{name}\s*\{{(.*?)^\}}", text, re.M | re.S)
    assert found, f"no {name} block in the configuration"
    return found.group(1)


def yaml_file(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@functools.cache
def k8s_objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name in ("kustomization.yaml", "nats-values.yaml"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects


def k8s_object(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        obj
        for obj in k8s_objects()
        if obj["kind"] == kind and name in (None, obj["metadata"]["name"])
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''} in infra/k8s"
    return found[0]


def edge_container() -> dict[str, Any]:
    (container,) = k8s_object("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def k8s_environment() -> dict[str, str]:
    """What the edge container's environment comes to, from its references."""
    by_name = {
        (obj["kind"], obj["metadata"]["name"]): obj
        for obj in k8s_objects()
        if obj["kind"] in ("ConfigMap", "Secret")
    }

    def data(kind: str, name: str) -> dict[str, str]:
        obj = by_name[(kind, name)]
        return {**obj.get("data", {}), **obj.get("stringData", {})}

    env: dict[str, str] = {}
    container = edge_container()
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(data("ConfigMap", source["configMapRef"]["name"]))
        if "secretRef" in source:
            env.update(data("Secret", source["secretRef"]["name"]))
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {})
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
        elif "configMapKeyRef" in ref:
            key = ref["configMapKeyRef"]
            env[variable["name"]] = data("ConfigMap", key["name"])[key["key"]]
        elif "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            env[variable["name"]] = data("Secret", key["name"])[key["key"]]
    return env


@functools.cache
def dashboard() -> dict[str, Any]:
    return json.loads((INFRA / "grafana/dashboards/realtime-edge.json").read_text())


def dashboard_queries() -> list[str]:
    """Every PromQL expression: panel targets and template variable queries."""
    queries = [
        target["expr"]
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]
    for variable in dashboard().get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if query:
            queries.append(query)
    return queries


@functools.cache
def exported_families() -> dict[str, dict[str, Any]]:
    """The edge's metric families by name, as its registry describes them."""
    families = EdgeMetrics().registry.snapshot()["families"]
    return {family["name"]: dict(family) for family in families}


def series_name(name: str) -> str:
    """A series name to its family: a histogram's ``_bucket`` and so on off."""
    return re.sub(r"_(bucket|sum|count)$", "", name)


def setting_variables() -> set[str]:
    return {field.metadata["variable"] for field in dataclasses.fields(Settings)}


def not_settings(names: list[str]) -> list[str]:
    known = setting_variables()
    return [n for n in names if n not in known and not n.startswith("OTEL_")]


# -- compose -------------------------------------------------------------------


def test_compose_depends_on_names_existing_services() -> None:
    for name, service in services().items():
        unknown = set(depends_on(service)) - set(services())
        assert not unknown, f"{name} depends on unknown services {unknown}"


def test_compose_builds_and_mounts_only_files_that_exist() -> None:
    declared_volumes = set(compose().get("volumes") or {})
    for name, service in services().items():
        if "build" in service:
            context = (INFRA / service["build"]["context"]).resolve()
            assert context == ROOT, f"{name} builds from {context}"
            assert (context / service["build"]["dockerfile"]).is_file()
        for source, _ in volumes(service):
            if is_bind(source):
                assert (INFRA / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared_volumes, f"{name}: undeclared {source}"


def test_compose_edges_set_only_real_settings_with_valid_values() -> None:
    for name in bridge_services():
        env = environment(services()[name])
        assert not not_settings(list(env)), f"{name} sets unknown variables"
        # Settings.load raises SettingsError for a value the edge would refuse.
        Settings.load(env)


def test_compose_edges_use_the_whole_nats_cluster_with_three_replicas() -> None:
    assert set(EDGE_SERVICES) <= set(bridge_services())
    expected = {f"nats://{member}:{NATS_CLIENT_PORT}" for member in NATS_SERVICES}
    for name in bridge_services():
        settings = Settings.load(environment(services()[name]))
        assert set(settings.nats_url or ()) == expected, name
    for name in EDGE_SERVICES:
        settings = Settings.load(environment(services()[name]))
        assert settings.stream_replicas == len(NATS_SERVICES)
        assert settings.port == EDGE_PORT


def test_compose_edges_start_once_every_nats_member_is_healthy() -> None:
    for name in NATS_SERVICES:
        check = " ".join(services()[name]["healthcheck"]["test"])
        assert "wget" in check and "http://localhost:8222/healthz" in check
    for name in EDGE_SERVICES:
        conditions = services()[name]["depends_on"]
        for member in NATS_SERVICES:
            assert conditions[member]["condition"] == "service_healthy"
        check = " ".join(services()[name]["healthcheck"]["test"])
        assert f":{EDGE_PORT}/readyz" in check


def test_compose_published_host_ports_do_not_collide() -> None:
    published = Counter(
        (host, protocol)
        for service in services().values()
        for host, _, protocol in host_ports(service)
    )
    assert published, "nothing is published"
    assert [port for port, count in published.items() if count > 1] == []


def test_compose_publishes_the_proxy_jaeger_prometheus_and_grafana() -> None:
    by_service = {
        name: {host for host, _, _ in host_ports(service)}
        for name, service in services().items()
    }
    assert EDGE_PORT in by_service["proxy"]
    assert {16686, 4318} <= by_service["jaeger"]
    assert 9090 in by_service["prometheus"]
    assert 3000 in by_service["grafana"]
    assert environment(services()["jaeger"])["COLLECTOR_OTLP_ENABLED"] == "true"
    for name in bridge_services():
        endpoint = environment(services()[name])["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert urlsplit(endpoint).netloc == "jaeger:4318"


def test_compose_demo_runs_the_demo_producer_at_twenty_per_second() -> None:
    demo = services()["demo"]
    command = demo["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    assert command == ["realtime-bridge", "demo", "--rate", "20"]
    assert demo["build"] == services()["edge-1"]["build"]


# -- nats ----------------------------------------------------------------------


@pytest.mark.parametrize("member", NATS_SERVICES)
def test_nats_routes_point_at_the_other_members_cluster_port(member: str) -> None:
    cluster = conf_block(nats_conf(member), "cluster")
    routes = re.findall(r"nats(?:-route)?://([\w.-]+):(\d+)", cluster)
    others = {(other, str(NATS_CLUSTER_PORT)) for other in NATS_SERVICES}
    others.discard((member, str(NATS_CLUSTER_PORT)))
    assert set(routes) == others
    assert conf_value(cluster, "name") == "realtime"
    assert conf_value(cluster, "port") == str(NATS_CLUSTER_PORT)


def test_nats_members_have_unique_names_and_jetstream_on_their_volume() -> None:
    names = [conf_value(nats_conf(member), "server_name") for member in NATS_SERVICES]
    assert names == ["n1", "n2", "n3"]
    for member in NATS_SERVICES:
        store = conf_value(conf_block(nats_conf(member), "jetstream"), "store_dir")
        assert store == "/data/jetstream"
        targets = [t for s, t in volumes(services()[member]) if not is_bind(s)]
        assert any(store.startswith(target) for target in targets), member


@pytest.mark.parametrize("member", NATS_SERVICES)
def test_nats_members_listen_where_compose_expects(member: str) -> None:
    conf = nats_conf(member)
    assert conf_value(conf, "port") == str(NATS_CLIENT_PORT)
    assert conf_value(conf, "http_port") == "8222"
    websocket = conf_block(conf, "websocket")
    assert re.search(r"^\s*port\s*[:=]?\s*8080\s*$", websocket, re.M)
    assert re.search(r"^\s*no_tls\s*[:=]?\s*true\s*$", websocket, re.M)

    # Each member reads its own file, at the path its command names.
    service = services()[member]
    command = service["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    path = command[command.index("-c") + 1]
    assert (f"./nats/{member}.conf", path) in list(volumes(service))


@pytest.mark.parametrize("member", NATS_SERVICES)
def test_nats_server_accepts_each_configuration(member: str) -> None:
    try:
        binary = natsserver.binary()
    except natsserver.NatsServerError as exc:
        pytest.skip(str(exc))
    done = subprocess.run(
        [binary, "-c", str(INFRA / "nats" / f"{member}.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- the edge image and the proxy ----------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(keyword, argument) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (INFRA / "edge.Dockerfile").read_text())
    return re.findall(r"^([A-Z]+)\s+(.*?)\s*$", text, re.M)


def test_edge_image_runs_the_edge_as_a_numeric_non_root_user() -> None:
    instructions = dockerfile_instructions()
    last = dict(instructions)
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("RUN", "pip install .") in instructions
    assert last["EXPOSE"] == str(EDGE_PORT)
    assert "/healthz" in last["HEALTHCHECK"]
    assert json.loads(last["CMD"]) == ["realtime-bridge", "serve"]

    user = last["USER"]
    assert user.isdigit() and user != "0", "runAsNonRoot needs a numeric uid"
    pod = k8s_object("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(user)


def test_edge_image_build_context_keeps_what_pip_install_needs() -> None:
    ignore = INFRA / "edge.Dockerfile.dockerignore"
    patterns = [
        line.strip()
        for line in (ignore.read_text().splitlines() if ignore.exists() else [])
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("pyproject.toml", "README.md", "bridge", "schemas"):
        assert (ROOT / needed).exists()
        dropped = [p for p in patterns if fnmatch.fnmatch(needed, p.strip("/"))]
        assert not dropped, f"{needed} is left out of the build by {dropped}"


def test_nginx_upgrades_websockets_to_both_edges() -> None:
    nginx = (INFRA / "nginx.conf").read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", nginx)
    assert upstream
    servers = re.findall(r"^\s*server\s+([\w.:-]+)", upstream.group(2), re.M)
    assert sorted(servers) == [f"{edge}:{EDGE_PORT}" for edge in EDGE_SERVICES]

    realtime = re.search(r"location\s+/realtime\s*\{([^}]*)\}", nginx)
    assert realtime
    body = realtime.group(1)
    assert f"proxy_pass http://{upstream.group(1)};" in body
    assert "proxy_http_version 1.1;" in body
    assert "proxy_set_header Upgrade $http_upgrade;" in body
    assert re.search(r"proxy_set_header Connection \$\w+;", body)
    assert "proxy_read_timeout 3600s;" in body


def test_nginx_keeps_the_host_port_for_the_same_origin_check() -> None:
    nginx = (INFRA / "nginx.conf").read_text()
    # A location with its own proxy_set_header lines inherits none, so each
    # must pass Host itself, with the port ($http_host, not $host).
    locations = re.findall(r"location\s+(\S+)\s*\{([^}]*)\}", nginx)
    assert {path for path, _ in locations} >= {"/realtime", "/"}
    for path, body in locations:
        assert "proxy_set_header Host $http_host;" in body, path

    (listen,) = re.findall(r"^\s*listen\s+(\d+);", nginx, re.M)
    assert (EDGE_PORT, int(listen), "tcp") in list(host_ports(services()["proxy"]))
    assert ("./nginx.conf", "/etc/nginx/nginx.conf") in list(
        volumes(services()["proxy"])
    )


# -- prometheus and grafana ----------------------------------------------------


def test_prometheus_scrapes_both_edges_metrics_and_nothing_else() -> None:
    config = yaml_file(INFRA / "prometheus/prometheus.yml")
    jobs = config["scrape_configs"]
    targets = [
        target
        for job in jobs
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    assert sorted(targets) == [f"{edge}:{EDGE_PORT}" for edge in EDGE_SERVICES]
    for target in targets:
        assert target.partition(":")[0] in services()
    for job in jobs:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        interval = job.get("scrape_interval", config["global"]["scrape_interval"])
        assert interval == "5s"

    mounts = dict(volumes(services()["prometheus"]))
    assert mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"


def test_dashboard_queries_only_metrics_the_edge_exports() -> None:
    known = set(exported_families()) | {READY_GAUGE}
    queries = dashboard_queries()
    assert len(queries) >= 10
    for query in queries:
        names = re.findall(r"realtime_[a-z_]+", query)
        assert names, f"no edge metric in {query!r}"
        unknown = {series_name(name) for name in names} - known
        assert not unknown, f"{query!r} uses {unknown}"


def test_dashboard_charts_every_metric_the_edge_exports() -> None:
    used = {
        series_name(name)
        for query in dashboard_queries()
        for name in re.findall(r"realtime_[a-z_]+", query)
    }
    missing = (set(exported_families()) | {READY_GAUGE}) - used
    assert not missing, f"no panel shows {missing}"


def test_dashboard_rates_counters_and_takes_quantiles_of_buckets() -> None:
    families = exported_families()
    for query in dashboard_queries():
        for match in re.finditer(r"realtime_[a-z_]+", query):
            name = match.group()
            before = query[: match.start()].rstrip()
            family = families.get(series_name(name))
            if family is None:
                assert name == READY_GAUGE
                continue
            if family["type"] == "histogram":
                # The bare name of a histogram is not a series.
                assert name == f"{family['name']}_bucket", query
                assert before.endswith("rate("), query
                assert "histogram_quantile(" in query, query
                assert re.search(r"by \([^)]*\ble\b", query), query
            elif family["type"] == "counter":
                assert name == family["name"], query
                assert before.endswith(("rate(", "increase(")), query
            else:
                assert name == family["name"], query
                assert not before.endswith(("rate(", "increase(")), query

    fanout = [q for q in dashboard_queries() if "realtime_fanout_seconds" in q]
    quantiles = {re.search(r"histogram_quantile\(([\d.]+)", q)[1] for q in fanout}
    assert {"0.5", "0.99"} <= quantiles


def test_dashboard_groups_only_by_labels_the_series_carry() -> None:
    families = exported_families()
    target_labels = {"instance", "job"}
    for query in dashboard_queries():
        grouped = {
            label.strip()
            for clause in re.findall(r"by \(([^)]*)\)", query)
            for label in clause.split(",")
        }
        for name in re.findall(r"realtime_[a-z_]+", query):
            family = families.get(series_name(name))
            carried = set(family["labelnames"]) if family else set()
            if family and family["type"] == "histogram":
                carried.add("le")
            assert grouped <= carried | target_labels, query


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard() -> None:
    provisioning = INFRA / "grafana/provisioning"
    (datasource,) = yaml_file(provisioning / "datasources/prometheus.yaml")[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
    url = urlsplit(datasource["url"])
    assert url.hostname == "prometheus" and url.port == 9090

    # Every panel and variable asks that datasource, by its uid.
    uids = {
        item["datasource"]["uid"]
        for item in [*dashboard()["panels"], *dashboard()["templating"]["list"]]
    }
    assert uids == {datasource["uid"]}

    # The dashboard provider reads the folder compose mounts the JSON into.
    (provider,) = yaml_file(provisioning / "dashboards/dashboards.yaml")["providers"]
    mounts = dict(volumes(services()["grafana"]))
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


# -- kubernetes ----------------------------------------------------------------


def test_k8s_manifests_are_named_kubernetes_objects() -> None:
    kinds = Counter(obj["kind"] for obj in k8s_objects())
    assert kinds == {"Deployment": 1, "Service": 1, "ConfigMap": 1, "Secret": 1}
    for obj in k8s_objects():
        assert obj["apiVersion"] and obj["metadata"]["name"]


def test_k8s_probes_hit_healthz_and_readyz_on_the_container_port() -> None:
    container = edge_container()
    (port,) = container["ports"]
    assert port["containerPort"] == EDGE_PORT
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert get["port"] in (port["containerPort"], port.get("name"))


def test_k8s_service_selects_the_deployment_pods_on_the_edge_port() -> None:
    deployment = k8s_object("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    service = k8s_object("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    (container_port,) = edge_container()["ports"]
    assert port["port"] == EDGE_PORT
    assert port["targetPort"] in (
        container_port["containerPort"],
        container_port.get("name"),
    )


def test_k8s_deployment_refers_only_to_configmaps_and_secrets_defined_here() -> None:
    defined = {
        (obj["kind"], obj["metadata"]["name"])
        for obj in k8s_objects()
        if obj["kind"] in ("ConfigMap", "Secret")
    }
    container = edge_container()
    referred = []
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            referred.append(("ConfigMap", source["configMapRef"]["name"]))
        if "secretRef" in source:
            referred.append(("Secret", source["secretRef"]["name"]))
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {})
        if "configMapKeyRef" in ref:
            referred.append(("ConfigMap", ref["configMapKeyRef"]["name"]))
        if "secretKeyRef" in ref:
            referred.append(("Secret", ref["secretKeyRef"]["name"]))
    assert referred
    assert set(referred) <= defined


def test_k8s_edge_environment_sets_only_real_settings_with_valid_values() -> None:
    env = k8s_environment()
    assert not not_settings(list(env))
    settings = Settings.load(env)
    assert settings.api_keys
    assert settings.nats_url == ("nats://nats.nats.svc.cluster.local:4222",)

    values = yaml_file(K8S / "nats-values.yaml")["config"]
    assert settings.stream_replicas <= values["cluster"]["replicas"]


def test_k8s_nats_values_ask_for_a_jetstream_cluster_without_websocket() -> None:
    values = yaml_file(K8S / "nats-values.yaml")["config"]
    assert values["cluster"]["enabled"] is True
    assert values["cluster"]["replicas"] == 3
    file_store = values["jetstream"]["fileStore"]
    assert values["jetstream"]["enabled"] is True
    assert file_store["enabled"] is True and file_store["pvc"]["enabled"] is True
    assert values["websocket"]["enabled"] is False


def test_k8s_edges_leave_the_service_before_closing_clients() -> None:
    deployment = k8s_object("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"]["runAsNonRoot"] is True

    command = edge_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    # The sleep must leave the edge time to close its clients with 1001.
    assert 0 < int(command[1]) < pod["terminationGracePeriodSeconds"] - 10
    assert edge_container()["resources"]["requests"]


def test_k8s_kustomization_lists_edge_files_that_exist() -> None:
    kustomization = yaml_file(K8S / "kustomization.yaml")
    resources = kustomization["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), resource
    listed = [
        doc["kind"]
        for resource in resources
        for doc in yaml.safe_load_all((K8S / resource).read_text())
        if doc
    ]
    assert sorted(listed) == ["ConfigMap", "Deployment", "Service"]
    image = edge_container()["image"].rpartition(":")[0]
    assert image in {entry["name"] for entry in kustomization.get("images", [])}

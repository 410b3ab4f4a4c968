"""The deployment files for replicas say one thing: the Kubernetes ConfigMap carries
docker/nginx.conf with only its upstream servers changed, nginx accepts the configuration, and
every replica in the compose file and the manifests points at the shared store."""

from __future__ import annotations

import pathlib
import re
import subprocess
import textwrap

from bnns.server.process import nginx_config

DOCKER = pathlib.Path(__file__).resolve().parents[2] / "docker"


def without_servers(text: str) -> list:
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith(("server bnns", "#"))]


def test_the_kubernetes_configmap_is_the_docker_nginx_conf():
    manifest = (DOCKER / "k8s" / "nginx.yaml").read_text()
    block = manifest.split("nginx.conf: |\n", 1)[1].split("\n---", 1)[0]
    configmap = textwrap.dedent(block)
    assert without_servers(configmap) == without_servers((DOCKER / "nginx.conf").read_text())
    assert re.findall(r"^\s*server (\S+) max_fails", configmap, re.M) == ["bnns.bnns.svc.cluster.local:50051",
                                                      "bnns.bnns.svc.cluster.local:8080"]


def test_nginx_accepts_the_configuration(tmp_path):
    path = tmp_path / "nginx.conf"
    path.write_text(nginx_config(str(tmp_path), 50051, 8080, ["127.0.0.1:1", "127.0.0.1:2"], ["127.0.0.1:3"]))
    nginx = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if pathlib.Path(p).exists()), "nginx")
    checked = subprocess.run([nginx, "-t", "-c", str(path), "-p", str(tmp_path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "hash $bnns_grpc_key consistent" in path.read_text()


def test_every_replica_points_at_the_shared_store():
    compose = (DOCKER / "compose.replicas.yaml").read_text()
    assert 'BNNS_STATE_STORE: "redis://redis:6379/0"' in compose and re.findall(r"^  (bnns-\d): \*replica", compose,
                                                                                 re.M) == ["bnns-1", "bnns-2", "bnns-3"]
    assert re.findall(r"server (bnns-\d):50051", (DOCKER / "nginx.conf").read_text()) == ["bnns-1", "bnns-2", "bnns-3"]
    assert 'BNNS_STATE_STORE, value: "redis://redis:6379/0"' in (DOCKER / "k8s" / "bnns.yaml").read_text()

"""The grader's policy (graders/policy/) and the containment the rewrite adds:
every rule refused with a message naming the service and the key; the reference passes."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from graders import policy
from graders.backends.base import Limits
from graders.backends.docker.compose_rewrite import CAPABILITIES, LOGGING, duration_s, rewrite_model
from graders.backends.process import scrubbed_env

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference"
SUB = "/sub"  # where the hand-made models below think the submission is


def reference_like(root: str = SUB) -> dict:
    """What `docker compose config --format json` makes of reference/compose.yaml."""
    app = {"build": {"context": root, "dockerfile": "Dockerfile"}, "command": None, "entrypoint": None,
           "depends_on": {"redis": {"condition": "service_healthy", "required": True}},
           "environment": {"REDIS_URL": "redis://redis:6379/0"}, "networks": {"default": None}}
    return {
        "name": "grader-sub-1",
        "networks": {"default": {"name": "grader-sub-1_default", "ipam": {}, "external": False}},
        "services": {
            "redis": {"image": "redis:7-alpine", "networks": {"default": None},
                      "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "2s", "retries": 15}},
            "web": {**copy.deepcopy(app), "ports": [{"mode": "ingress", "target": 8000, "published": "8000"}]},
            "worker": {**copy.deepcopy(app), "command": ["python", "worker.py"]},
            "nginx": {"image": "nginx:alpine", "networks": {"default": None},
                      "ports": [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}],
                      "volumes": [{"type": "bind", "source": f"{root}/nginx/default.conf",
                                   "target": "/etc/nginx/conf.d/default.conf", "read_only": True,
                                   "bind": {"create_host_path": True}}]},
        },
    }


def violations(root: Path | str = SUB, **changes) -> list[str]:
    """Violations of the reference-like model with `changes` merged into service 'web'
    (or top-level keys given as top__KEY)."""
    model = reference_like(str(root))
    for key, value in changes.items():
        if key.startswith("top__"):
            model[key[5:]] = value
        else:
            model["services"]["web"][key] = value
    return policy.check_model(model, Path(root))


def only(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]


# --- the normalised model --------------------------------------------------------------

def test_the_reference_like_model_passes():
    assert violations() == []


@pytest.mark.parametrize(("key", "value", "message"), [
    ("privileged", True, "service 'web': privileged: true is not allowed"),
    ("network_mode", "host", "service 'web': network_mode: host is not allowed (it shares the host's network)"),
    ("network_mode", "bridge", "service 'web': network_mode: bridge is not allowed"),
    ("network_mode", "container:postgres", "service 'web': network_mode: container:postgres is not allowed"),
    ("network_mode", "service:ghost", "service 'web': network_mode: service:ghost is not allowed"),
    ("pid", "host", "service 'web': pid: host is not allowed"),
    ("pid", "container:abc", "service 'web': pid: container:abc is not allowed"),
    ("ipc", "host", "service 'web': ipc: host is not allowed"),
    ("uts", "host", "service 'web': uts: host is not allowed"),
    ("userns_mode", "host", "service 'web': userns_mode: host is not allowed"),
    ("cgroup", "host", "service 'web': cgroup: host is not allowed"),
    ("cap_add", ["SYS_ADMIN", "NET_ADMIN"], "service 'web': cap_add: SYS_ADMIN, NET_ADMIN is not allowed"),
    ("devices", [{"source": "/dev/kmsg", "target": "/dev/kmsg"}], "service 'web': devices is not allowed"),
    ("device_cgroup_rules", ["c 1:3 mr"], "service 'web': device_cgroup_rules is not allowed"),
    ("security_opt", ["seccomp=unconfined"], "service 'web': security_opt 'seccomp=unconfined' is not allowed "
                                             "(it turns off the container's confinement)"),
    ("security_opt", ["seccomp:unconfined"], "security_opt 'seccomp:unconfined' is not allowed"),
    ("security_opt", ["apparmor=unconfined"], "security_opt 'apparmor=unconfined' is not allowed"),
    ("security_opt", ["label=disable"], "security_opt 'label=disable' is not allowed"),
    ("security_opt", ["label:disable"], "security_opt 'label:disable' is not allowed"),
    ("security_opt", ["systempaths=unconfined"], "security_opt 'systempaths=unconfined' is not allowed"),
    ("cgroup_parent", "/system.slice", "service 'web': cgroup_parent is not allowed"),
    ("runtime", "nvidia", "service 'web': runtime: nvidia is not allowed"),
    ("oom_kill_disable", True, "service 'web': oom_kill_disable: true is not allowed"),
    ("oom_score_adj", -1000, "service 'web': a negative oom_score_adj is not allowed"),
    ("external_links", ["db:db"], "service 'web': external_links is not allowed"),
    ("volumes_from", ["container:other"], "service 'web': volumes_from: container:other is not allowed"),
    ("networks", {"default": {"ipv4_address": "172.17.0.9"}}, "service 'web': networks.default: fixed IP"),
    ("deploy", {"resources": {"reservations": {"devices": [{"capabilities": ["gpu"]}]}}},
     "service 'web': deploy.resources.reservations.devices is not allowed"),
])
def test_each_service_rule_is_refused_naming_the_service_and_the_key(key, value, message):
    assert message in only(violations(**{key: value}))


def test_allowed_values_of_the_same_keys_pass():
    assert violations(network_mode="none") == []
    assert violations(network_mode="service:redis", networks=None) == []
    assert violations(pid="service:redis", ipc="shareable", security_opt=["no-new-privileges:true"],
                      cap_drop=["NET_RAW"], sysctls={"net.core.somaxconn": "1024"}, oom_score_adj=100,
                      volumes_from=["redis:ro"], restart="always") == []


@pytest.mark.parametrize("source", ["/var/run/docker.sock", "/run/docker.sock"])
def test_the_docker_socket_is_refused(source):
    found = only(violations(volumes=[{"type": "bind", "source": source, "target": "/var/run/docker.sock"}]))
    assert found.startswith("service 'web': volumes:") and "(the Docker socket) is not allowed" in found


def test_host_binds_outside_the_folder_are_refused_inside_allowed(tmp_path):
    (tmp_path / "data").mkdir()
    inside = {"type": "bind", "source": str(tmp_path / "data"), "target": "/data"}
    whole = {"type": "bind", "source": str(tmp_path), "target": "/app"}
    assert violations(tmp_path, volumes=[inside, whole]) == []
    for source in ("/etc", "/", str(tmp_path.parent), "/root/.ssh", str(tmp_path) + "-evil"):
        found = only(violations(tmp_path, volumes=[{"type": "bind", "source": source, "target": "/x"}]))
        assert found == f"service 'web': volumes: '{source}:/x' binds a host path outside the submission folder"


def test_a_bind_through_a_symlink_is_judged_by_where_it_leads(tmp_path):
    (tmp_path / "conf").symlink_to("/etc")
    found = violations(tmp_path, volumes=[{"type": "bind", "source": str(tmp_path / "conf"), "target": "/c"}])
    assert "binds a host path outside the submission folder" in only(found)


def test_npipe_and_unknown_volume_types_are_refused():
    found = only(violations(volumes=[{"type": "npipe", "source": r"\\.\pipe\docker_engine", "target": "/p"}]))
    assert "volumes: type npipe" in found


def test_named_volumes_binding_host_paths_are_refused(tmp_path):
    (tmp_path / "data").mkdir()
    web = {"volumes": [{"type": "volume", "source": "data", "target": "/data"}]}
    ok = {"data": {"name": "grader-sub-1_data", "driver_opts": {"type": "none", "o": "bind",
                                                                "device": str(tmp_path / "data")}}}
    assert violations(tmp_path, top__volumes=ok, **web) == []
    assert violations(tmp_path, top__volumes={"data": {"driver_opts": {"type": "tmpfs", "device": "tmpfs"}}}) == []
    for opts in ({"type": "none", "o": "bind", "device": "/etc"}, {"type": "ext4", "device": "/dev/sda1"},
                 {"type": "nfs", "o": "addr=10.0.0.1", "device": ":/x"}):
        found = only(violations(tmp_path, top__volumes={"data": {"driver_opts": opts}}, **web))
        assert found.startswith("volumes.data: driver_opts") and "are not allowed" in found


@pytest.mark.parametrize(("section", "item", "message"), [
    ("volumes", {"external": True}, "volumes.x: external: true is not allowed (a volume outside this project)"),
    ("networks", {"external": True}, "networks.x: external: true is not allowed (a network outside this project)"),
    ("volumes", {"name": "portainer_data"}, "volumes.x: name: portainer_data is not allowed"),
    ("networks", {"name": "grader-other-2_default"}, "networks.x: name: grader-other-2_default is not allowed"),
    ("volumes", {"driver": "rexray"}, "volumes.x: driver: rexray is not allowed"),
    ("networks", {"driver": "macvlan"}, "networks.x: driver: macvlan is not allowed"),
    ("networks", {"driver": "host"}, "networks.x: driver: host is not allowed"),
    ("networks", {"driver_opts": {"com.docker.network.bridge.name": "docker0"}}, "networks.x: driver_opts"),
    ("networks", {"ipam": {"config": [{"subnet": "10.0.0.0/8"}]}}, "networks.x: ipam settings are not allowed"),
    ("secrets", {"file": "/etc/shadow"}, "secrets.x: file '/etc/shadow' is outside the submission folder"),
    ("configs", {"file": "/root/.docker/config.json"}, "configs.x: file '/root/.docker/config.json' is outside"),
    ("secrets", {"environment": "AWS_SECRET_ACCESS_KEY"}, "secrets.x: environment: AWS_SECRET_ACCESS_KEY is not"),
    ("secrets", {"external": True}, "secrets.x: external: true is not allowed"),
])
def test_top_level_rules(section, item, message):
    assert message in only(violations(**{f"top__{section}": {"x": item}}))


def test_project_own_names_pass():
    assert violations(top__volumes={"data": {"name": "grader-sub-1_data", "external": False}},
                      top__secrets={"s": {"file": f"{SUB}/secret.txt"}}) == []


@pytest.mark.parametrize(("build", "message"), [
    ({"context": "/"}, "service 'web': build.context '/' is outside the submission folder"),
    ({"context": "https://github.com/x/y.git"}, "build.context 'https://github.com/x/y.git' is not a folder"),
    ({"context": SUB, "dockerfile": "../../etc/passwd"}, "build.dockerfile '../../etc/passwd' is outside"),
    ({"context": SUB, "dockerfile": "/etc/passwd"}, "build.dockerfile '/etc/passwd' is outside"),
    ({"context": SUB, "additional_contexts": {"etc": "/etc"}}, "build.additional_contexts.etc '/etc' is outside"),
    ({"context": SUB, "additional_contexts": {"up": ".."}}, "build.additional_contexts.up '..' is outside"),
    ({"context": SUB, "ssh": ["default"]}, "service 'web': build.ssh is not allowed"),
    ({"context": SUB, "network": "host"}, "service 'web': build.network: host is not allowed"),
    ({"context": SUB, "privileged": True}, "service 'web': build.privileged: true is not allowed"),
    ({"context": SUB, "cache_to": ["type=local,dest=/var/lib"]}, "build.cache_to 'type=local,dest=/var/lib'"),
    ({"context": SUB, "cache_from": ["type=local,src=/root"]}, "build.cache_from 'type=local,src=/root'"),
])
def test_build_rules(build, message):
    assert message in only(violations(build=build))


def test_build_contexts_inside_pass(tmp_path):
    (tmp_path / "app").mkdir()
    build = {"context": str(tmp_path / "app"), "dockerfile": "../Dockerfile",
             "additional_contexts": {"base": "docker-image://python:3.11-slim", "w": "service:worker"},
             "tags": ["python:3.11-slim"]}  # tags: not refused, dropped by the rewrite
    assert violations(tmp_path, build=build) == []


def test_dockerfiles_are_bounded_and_may_not_leave_the_sandbox(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN --network=host curl 127.0.0.1:2375\n"
                                         "RUN --mount=type=cache,target=/root/.cache --security=insecure true\n")
    found = [v for v in violations(tmp_path) if v.startswith("service 'web'")]  # worker shares the build
    assert found == ["service 'web': Dockerfile line 2: RUN --network=host is not allowed (a build step gets the "
                     "default network)",
                     "service 'web': Dockerfile line 3: RUN --security=insecure is not allowed (it asks for a "
                     "privileged build step)"]
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n" + "# padding\n" * 120_000)
    found = [v for v in violations(tmp_path) if v.startswith("service 'web'")]
    assert "the Dockerfile is 1171 KB, larger than the 1024 KB allowed" in only(found)
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    inline = {"context": str(tmp_path), "dockerfile_inline": "FROM x\nRUN --network=host true\n"}
    assert "RUN --network=host is not allowed" in only(violations(tmp_path, build=inline))


def test_an_env_file_left_in_the_model_is_still_checked():
    assert "env_file '/etc/environment' is outside" in only(violations(env_file=["/etc/environment"]))


def test_every_violation_is_listed_not_just_the_first():
    found = violations(privileged=True, cap_add=["ALL"], network_mode="host")
    assert len(found) == 3
    message = policy.refusal_message(found)
    assert message.startswith("refused before running: ") and all(v in message for v in found)


# --- the folder and the raw compose file ----------------------------------------------------

def write(folder: Path, compose: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compose.yaml").write_text(compose)
    return folder / "compose.yaml"


def test_the_reference_folder_passes():
    assert policy.check_files(REFERENCE, REFERENCE / "compose.yaml") == []


def test_escaping_symlinks_are_refused_inside_ones_allowed(tmp_path):
    sub = tmp_path / "sub"
    compose = write(sub, "services: {web: {image: x}}\n")
    (sub / "inside").symlink_to("compose.yaml")
    assert policy.check_files(sub, compose) == []
    (sub / "app").mkdir()
    (sub / "app" / "passwd").symlink_to("/etc/passwd")
    (sub / "up").symlink_to("../..")
    (sub / "gone").symlink_to("/nonexistent/file")
    found = only(policy.check_files(sub, compose))
    assert found.startswith("symlinks leading outside the submission are not allowed: ")
    assert "app/passwd -> /etc/passwd" in found and "up -> ../.." in found and "gone -> /nonexistent" in found


def test_a_symlinked_folder_is_not_followed(tmp_path):
    sub = tmp_path / "sub"
    compose = write(sub, "services: {web: {image: x}}\n")
    (sub / "loop").symlink_to(".")
    assert policy.check_files(sub, compose) == []


def test_special_files_depth_and_size(tmp_path):
    sub = tmp_path / "sub"
    compose = write(sub, "services: {web: {image: x}}\n")
    os.link(compose, tmp_path / "elsewhere")  # hard links are allowed (a local git clone makes them)
    assert policy.check_files(sub, compose) == []
    os.mkfifo(sub / "requirements.txt")
    found = only(policy.check_files(sub, compose))
    assert found == "special files (FIFOs, sockets, devices) are not allowed: requirements.txt"
    (sub / "requirements.txt").unlink()
    (sub / "/".join(["d"] * 70)).mkdir(parents=True)
    assert "nested more than 64 levels deep" in only(policy.check_files(sub, compose))
    shutil.rmtree(sub / "d")
    with open(sub / "sparse.bin", "wb") as handle:  # 2 GB apparent, no blocks
        handle.truncate(2 * 1024**3)
    assert "add up to 2048 MB" in only(policy.check_files(sub, compose))


def test_a_huge_tree_is_refused(tmp_path):
    for i in range(30):
        (tmp_path / f"f{i}").write_text("")
    assert "more than 20 files and folders" in only(policy.check_tree(tmp_path, max_entries=20))


def test_compose_config_never_sees_env_files_extends_or_includes_outside(tmp_path):
    sub = tmp_path / "sub"
    (sub / "inc").mkdir(parents=True)
    compose = write(sub, """
x-app: &app
  env_file: [../secret.env]
include:
  - inc/more.yaml
  - path: [/etc/compose.yaml]
services:
  web: {<<: *app, image: x, extends: {file: ../base.yaml, service: b}}
  api: {image: x, env_file: "${HOME}/.env"}
  ok: {image: x, env_file: [.env, {path: ./more.env, required: false}], extends: {service: api}}
""")
    (sub / "inc" / "more.yaml").write_text("services:\n  z: {image: x, env_file: ../../secret.env}\n")
    assert sorted(policy.check_files(sub, compose)) == sorted([
        "service 'web': env_file '../secret.env' is outside the submission folder",
        "service 'web': extends.file '../base.yaml' is outside the submission folder",
        "service 'api': env_file '${HOME}/.env' uses a variable; write the path itself",
        "include: file '/etc/compose.yaml' is outside the submission folder",
        "inc/more.yaml: service 'z': env_file '../../secret.env' is outside the submission folder",
    ])


def test_compose_file_size_and_yaml_bombs(tmp_path):
    big = write(tmp_path / "big", "# x\n" * 300_000)
    assert "larger than the 1024 KB allowed" in only(policy.check_files(big.parent, big))
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    bomb = write(tmp_path / "bomb", laughs)
    assert "a YAML bomb" in only(policy.check_files(bomb.parent, bomb))
    deep = write(tmp_path / "deep", "a: " + "[" * 200 + "]" * 200 + "\n")
    assert "nested more than 64 levels" in only(policy.check_files(deep.parent, deep))
    loop = write(tmp_path / "loop", "a: &a [*a]\n")
    assert "refers to itself" in only(policy.check_files(loop.parent, loop))
    broken = write(tmp_path / "broken", "services:\n  web: [\n")
    assert "not valid YAML" in only(policy.check_files(broken.parent, broken))
    tagged = write(tmp_path / "tagged", "services:\n  web: {image: x, ports: !reset []}\n")
    assert policy.check_files(tagged.parent, tagged) == []


def test_a_compose_file_linked_from_outside_is_never_read(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "compose.yaml").symlink_to("/etc/passwd")
    assert only(policy.check_files(sub, sub / "compose.yaml")).startswith("symlinks leading outside")


def test_the_scrubbed_environment_keeps_only_what_reaches_the_engine():
    env = {"PATH": "/bin", "HOME": "/root", "DOCKER_HOST": "unix:///x.sock", "AWS_SECRET_ACCESS_KEY": "k",
           "GITHUB_TOKEN": "t", "COMPOSE_FILE": "/etc/x.yaml"}
    assert scrubbed_env(env) == {"PATH": "/bin", "HOME": "/root", "DOCKER_HOST": "unix:///x.sock"}


# --- containment in the rewrite ---------------------------------------------------------------

def contained(service: dict, submission: Path | None = None) -> dict:
    model = {"name": "s", "services": {"web": service, "redis": {"image": "redis:7-alpine"}}}
    out = rewrite_model(model, project="grader-s-1", run_id="r1", probe_ports={}, limits=Limits(),
                        submission=submission)
    return out["services"]["web"]


def test_every_container_drops_capabilities_and_privileges_whatever_the_student_asked():
    web = contained({"image": "x", "privileged": True, "cap_add": ["SYS_ADMIN"], "cap_drop": [],
                     "devices": ["/dev/sda"], "security_opt": ["seccomp=unconfined", "apparmor:unconfined"],
                     "pid": "host", "ipc": "container:x", "uts": "host", "userns_mode": "host", "cgroup": "host",
                     "network_mode": "host", "cgroup_parent": "/", "runtime": "x", "oom_kill_disable": True,
                     "oom_score_adj": -1000, "cpu_shares": 262144, "cpu_quota": 900000, "cpuset": "0-1",
                     "external_links": ["x"], "volumes_from": ["container:x"]})
    assert web["cap_drop"] == ["ALL"] and web["cap_add"] == CAPABILITIES
    assert web["security_opt"] == ["no-new-privileges:true"]
    for key in ("privileged", "devices", "pid", "ipc", "uts", "userns_mode", "cgroup", "network_mode",
                "cgroup_parent", "runtime", "oom_kill_disable", "oom_score_adj", "cpu_shares", "cpu_quota", "cpuset",
                "external_links", "volumes_from"):
        assert key not in web, key
    assert web["cpus"] == Limits().cpus and web["pids_limit"] == Limits().pids
    assert web["ulimits"]["core"] == {"soft": 0, "hard": 0}


def test_project_namespace_sharing_survives():
    web = contained({"image": "x", "network_mode": "service:redis", "pid": "service:redis",
                     "volumes_from": ["redis:ro"]})
    assert (web["network_mode"], web["pid"], web["volumes_from"]) == ("service:redis", "service:redis", ["redis:ro"])


def test_logs_are_bounded_whatever_driver_the_student_chose():
    assert contained({"image": "x", "logging": {"driver": "syslog", "options": {"syslog-address": "tcp://x"}}}
                     )["logging"] == LOGGING == {"driver": "json-file", "options": {"max-size": "1m", "max-file": "1"}}


@pytest.mark.parametrize(("service", "restart"), [
    ({}, "no"),
    ({"restart": "no"}, "no"),
    ({"restart": "always"}, "on-failure:3"),
    ({"restart": "unless-stopped"}, "on-failure:3"),
    ({"restart": "on-failure"}, "on-failure:3"),
    ({"restart": "on-failure:1"}, "on-failure:1"),
    ({"restart": "on-failure:100"}, "on-failure:3"),
    ({"deploy": {"restart_policy": {"condition": "any"}}}, "on-failure:3"),
    ({"deploy": {"restart_policy": {"condition": "on-failure", "max_attempts": 2}}}, "on-failure:2"),
    ({"deploy": {"restart_policy": {"condition": "none"}}}, "no"),
])
def test_restart_policies_are_capped(service, restart):
    web = contained({"image": "x", **service})
    assert web["restart"] == restart and "restart_policy" not in (web.get("deploy") or {})


def test_replicas_and_healthchecks_are_capped():
    web = contained({"image": "x", "deploy": {"replicas": 50}, "scale": 40,
                     "healthcheck": {"test": ["CMD", "true"], "interval": "1ms", "start_interval": "10ms"}})
    assert web["deploy"]["replicas"] == 3 and web["scale"] == 3
    assert web["healthcheck"]["interval"] == web["healthcheck"]["start_interval"] == "1s"
    assert contained({"image": "x", "healthcheck": {"interval": "2s"}})["healthcheck"]["interval"] == "2s"
    assert (duration_s("1m30s"), duration_s("500ms"), duration_s("nonsense")) == (90, 0.5, None)


def test_the_docker_socket_and_outside_binds_are_never_mounted(tmp_path):
    volumes = [{"type": "bind", "source": "/var/run/docker.sock", "target": "/s"},
               {"type": "bind", "source": "/etc", "target": "/e"},
               {"type": "bind", "source": str(tmp_path / "conf"), "target": "/c", "bind": {"propagation": "rshared"}},
               {"type": "volume", "source": "data", "target": "/d"}]
    assert [v["target"] for v in contained({"image": "x", "volumes": volumes})["volumes"]] == ["/e", "/c", "/d"]
    kept = contained({"image": "x", "volumes": copy.deepcopy(volumes)}, submission=tmp_path)["volumes"]
    # the writable folder bind becomes a volume holding a copy (propagation and all gone)
    assert [v["target"] for v in kept] == ["/c", "/d"] and kept[0] == {"type": "volume", "source": "grader-bind-1",
                                                                       "target": "/c"}


def test_builds_cannot_tag_host_images_or_borrow_the_host():
    web = contained({"build": {"context": SUB, "tags": ["python:3.11-slim"], "ssh": ["default"],
                               "network": "host", "privileged": True, "cache_to": ["type=local,dest=/"]},
                     "image": "python:3.11-slim"})
    assert web["image"] == "grader-s-1-web:graded"
    assert web["build"] == {"context": SUB, "labels": {"org.graders.run": "r1", "org.graders.tool": "lab4-grader"}}


# --- the real normaliser ------------------------------------------------------------------------

@pytest.mark.docker
def test_docker_compose_config_of_the_reference_passes():
    proc = subprocess.run(["docker", "compose", "-f", str(REFERENCE / "compose.yaml"), "-p", "grader-policy-test",
                           "config", "--format", "json"], capture_output=True, text=True, timeout=60,
                          env=scrubbed_env())
    assert proc.returncode == 0, proc.stderr
    model = json.loads(proc.stdout)
    assert policy.check_model(model, REFERENCE) == []
    assert policy.check_files(REFERENCE, REFERENCE / "compose.yaml") == []

"""The rewrite that makes a student's stack safe to run next to others."""

from __future__ import annotations

from graders.backends.base import Limits
from graders.backends.docker.compose_rewrite import LABEL_RUN, rewrite_model

MODEL = {
    "name": "student",
    "services": {
        "web": {"build": {"context": "/sub"}, "image": "python:3.11-slim",
                "ports": [{"target": 8000, "published": "8000", "protocol": "tcp"}],
                "deploy": {"resources": {"limits": {"memory": "64g"}}}},
        "redis": {"image": "redis:7-alpine", "container_name": "redis", "networks": {"default": None}},
        "nginx": {"image": "nginx:alpine", "ports": [{"target": 80, "published": "80"}]},
    },
    "volumes": {"data": {}},
}


def rewrite(probe=None):
    return rewrite_model(MODEL, project="grader-x-1", run_id="r1", probe_ports=probe or {}, limits=Limits())


def test_published_ports_move_to_loopback_ephemeral():
    out = rewrite()
    assert out["services"]["web"]["ports"] == [{"target": 8000, "host_ip": "127.0.0.1", "protocol": "tcp"}]
    assert all("published" not in p for s in out["services"].values() for p in s.get("ports", []))


def test_probe_ports_are_published_where_the_student_did_not():
    out = rewrite({"redis": [6379]})
    assert out["services"]["redis"]["ports"] == [{"target": 6379, "host_ip": "127.0.0.1", "protocol": "tcp"}]


def test_fixed_container_name_is_unique_but_still_an_alias():
    redis = rewrite()["services"]["redis"]
    assert redis["container_name"] == "grader-x-1-redis"
    assert redis["networks"]["default"]["aliases"] == ["redis"]


def test_built_image_never_takes_a_base_image_tag():
    assert rewrite()["services"]["web"]["image"] == "grader-x-1-web:graded"


def test_labels_and_limits_reach_every_service_network_and_volume():
    out = rewrite()
    for service in out["services"].values():
        assert service["labels"][LABEL_RUN] == "r1"
        assert service["mem_limit"] == Limits().memory and service["pids_limit"] == Limits().pids
        assert "no-new-privileges:true" in service["security_opt"]
    assert "limits" not in out["services"]["web"]["deploy"]["resources"]
    assert out["volumes"]["data"]["labels"][LABEL_RUN] == "r1"
    assert out["networks"]["default"]["labels"][LABEL_RUN] == "r1"


def test_the_input_model_is_left_untouched():
    rewrite()
    assert MODEL["services"]["web"]["ports"][0]["published"] == "8000"


def test_networks_and_volumes_lose_fixed_names_so_two_stacks_never_share_one():
    model = {**MODEL, "networks": {"default": {"name": "student_default"}, "chat": {"name": "chatnet"},
                                   "outside": {"name": "shared", "external": True}},
             "volumes": {"data": {"name": "student_data"}}}
    out = rewrite_model(model, project="grader-x-1", run_id="r1", probe_ports={}, limits=Limits())
    assert "name" not in out["networks"]["default"] and "name" not in out["networks"]["chat"]
    assert "name" not in out["volumes"]["data"]
    assert out["networks"]["outside"]["name"] == "shared"  # external: the policy's business, not renamed


def test_a_copy_of_the_stack_runs_the_main_stacks_images():
    out = rewrite_model(MODEL, project="grader-x-1-queue", run_id="r1", probe_ports={}, limits=Limits(),
                        images_of="grader-x-1")
    assert out["name"] == "grader-x-1-queue"
    assert out["services"]["web"]["image"] == "grader-x-1-web:graded"
    assert out["services"]["redis"]["container_name"] == "grader-x-1-queue-redis"

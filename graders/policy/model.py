"""The policy's last pass: the normalised compose model (`docker compose config --format
json`), service by service (host namespaces, privileges, devices, bind mounts, build
contexts, Dockerfiles...) and the top-level networks, volumes, secrets and configs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from graders.i18n import _
from graders.policy.dockerfiles import MAX_DOCKERFILE_BYTES, ImageRef, check_dockerfile, read_dockerfile
from graders.policy.files import (
    ALLOWED_VOLUME_TYPES,
    CONFINEMENT_OFF,
    _file_list,
    _inside,
    _is_url,
    _real,
    _resolve,
    _truthy,
)

# --- 3. the normalised model --------------------------------------------------------------

def _namespace_rule(where: str, key: str, value: Any, services: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    if value in (None, "") or value in allowed:
        return []
    text = str(value)
    if text.startswith("service:") and text.split(":", 1)[1] in services:
        return []
    if text == "host":
        return [_("{where}: {key}: host is not allowed (it shares the host's namespace)", where=where, key=key)]
    if text.startswith("container:"):
        return [_("{where}: {key}: {text} is not allowed (a container outside this project)", where=where, key=key,
                  text=text)]
    return [_("{where}: {key}: {text} is not allowed", where=where, key=key, text=text)]


def _check_build(where: str, build: Any, root: Path, services: dict[str, Any]) -> list[str]:
    if isinstance(build, str):
        build = {"context": build}
    if not isinstance(build, dict):
        return []
    problems = []
    context = str(build.get("context") or ".")
    context_path = _resolve(context, root)
    if _is_url(context):
        problems.append(_("{where}: build.context '{context}' is not a folder of the submission", where=where,
                          context=context))
        context_ok = False
    else:
        context_ok = _inside(context_path, root)
        if not context_ok:
            problems.append(_("{where}: build.context '{context}' is outside the submission folder", where=where,
                              context=context))
    problems += _dockerfile_of(where, build, context_path, root, context_ok)[1]
    for name, value in sorted((build.get("additional_contexts") or {}).items()):
        value = str(value)
        if value.startswith("docker-image://") or (value.startswith("service:") and value[8:] in services):
            continue
        if _is_url(value) or not _inside(_resolve(value, context_path), root):
            problems.append(_("{where}: build.additional_contexts.{name} '{value}' is outside the submission folder",
                              where=where, name=name, value=value))
    if build.get("ssh"):
        problems.append(_("{where}: build.ssh is not allowed (it would lend the grader's SSH agent or keys)",
                          where=where))
    if build.get("network") not in (None, "", "default", "none"):
        problems.append(_("{where}: build.network: {network} is not allowed", where=where, network=build['network']))
    if _truthy(build.get("privileged")):
        problems.append(_("{where}: build.privileged: true is not allowed", where=where))
    if build.get("entitlements"):
        problems.append(_("{where}: build.entitlements are not allowed", where=where))
    for key in ("cache_from", "cache_to"):
        for entry in build.get(key) or []:
            if "type=local" in str(entry).replace(" ", ""):
                problems.append(_("{where}: build.{key} '{entry}' is not allowed (a folder on the host)", where=where,
                                  key=key, entry=entry))
    return problems


def _dockerfile_of(where: str, build: dict[str, Any], context: Path, root: Path, context_ok: bool
                   ) -> tuple[list[ImageRef], list[str]]:
    """The images a service's build reads, and the rules its Dockerfile breaks."""
    args = {k: str(v) for k, v in (build.get("args") or {}).items() if v is not None} \
        if isinstance(build.get("args"), dict) else {}
    if build.get("dockerfile_inline"):
        text = str(build["dockerfile_inline"])
        if len(text.encode()) > MAX_DOCKERFILE_BYTES:
            return [], [_("{where}: build.dockerfile_inline is larger than {value} KB", where=where,
                          value=MAX_DOCKERFILE_BYTES // 1024)]
    else:
        if not build.get("dockerfile") and not context_ok:
            return [], []  # the context's own problem is reported
        path = _resolve(str(build.get("dockerfile") or "Dockerfile"), context)
        if not _inside(path, root):
            return [], [_("{where}: build.dockerfile '{value}' is outside the submission folder", where=where,
                          value=build.get('dockerfile') or 'Dockerfile')]
        if not context_ok:
            return [], []
        text, problems = read_dockerfile(path, where, root)
        if text is None:
            return [], problems
    problems, refs = check_dockerfile(text, where, args)
    return refs, problems


def images_used(model: dict[str, Any], submission: Path) -> list[ImageRef]:
    """Every image the stack would run or build from: service images (other than the names the
    stack's own builds take) and what each Dockerfile reads."""
    root = submission.resolve()
    services = model.get("services") or {}
    built = {str(s.get("image")) for s in services.values() if s.get("build") and s.get("image")}
    refs: list[ImageRef] = []
    for name, service in sorted(services.items()):
        where = _("service '{name}'", name=name)
        build = service.get("build")
        if isinstance(build, str):
            build = {"context": build}
        if isinstance(build, dict):
            context = _resolve(str(build.get("context") or "."), root)
            refs += _dockerfile_of(where, build, context, root, _inside(context, root))[0]
            refs += [ImageRef(str(v)[len("docker-image://"):], _("{where}: build.additional_contexts.{k}",
                                                                 where=where, k=k))
                     for k, v in sorted((build.get("additional_contexts") or {}).items())
                     if str(v).startswith("docker-image://")]
        elif service.get("image") and str(service["image"]) not in built:
            refs.append(ImageRef(str(service["image"]), _("{where}: image", where=where)))
    return refs


def _check_volumes(where: str, service: dict[str, Any], root: Path, model: dict[str, Any]) -> list[str]:
    problems = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):  # not normalised: SOURCE:TARGET[:MODE]
            source, _colon, rest = volume.partition(":")
            volume = {"type": "bind" if rest and (source.startswith((".", "/", "~"))) else "volume",
                      "source": source if rest else None, "target": rest or source}
        kind = volume.get("type", "volume")
        source = str(volume.get("source") or "")
        target = volume.get("target", "?")
        if kind not in ALLOWED_VOLUME_TYPES:
            problems.append(_("{where}: volumes: type {kind} ({value}) is not allowed", where=where, kind=kind,
                              value=source or target))
        elif kind == "bind":
            if os.path.basename(source.rstrip("/")) == "docker.sock" or _real(source).name == "docker.sock":
                problems.append(_("{where}: volumes: '{source}' (the Docker socket) is not allowed: it gives the "
                                  "container control of the host", where=where, source=source))
            elif not _inside(_resolve(source, root), root):
                problems.append(_("{where}: volumes: '{source}:{target}' binds a host path outside the submission "
                                  "folder", where=where, source=source, target=target))
    for entry in service.get("volumes_from") or []:
        text = str(entry)
        if text.startswith("container:") or text.split(":")[0] not in (model.get("services") or {}):
            problems.append(_("{where}: volumes_from: {text} is not allowed (a container outside this project)",
                              where=where, text=text))
    return problems


def _check_service(name: str, service: dict[str, Any], root: Path, model: dict[str, Any]) -> list[str]:
    where = _("service '{name}'", name=name)
    services = model.get("services") or {}
    problems: list[str] = []
    if _truthy(service.get("privileged")):
        problems.append(_("{where}: privileged: true is not allowed", where=where))
    network_mode = service.get("network_mode")
    if network_mode not in (None, "", "none") and not (
            str(network_mode).startswith("service:") and str(network_mode)[8:] in services):
        why = {"host": "it shares the host's network", "bridge": "it joins the engine's default bridge, "
               "shared with containers outside this project"}.get(str(network_mode), "outside this project")
        problems.append(_("{where}: network_mode: {network_mode} is not allowed ({why})", where=where,
                          network_mode=network_mode, why=why))
    problems += _namespace_rule(where, "pid", service.get("pid"), services, ())
    problems += _namespace_rule(where, "ipc", service.get("ipc"), services, ("private", "shareable", "none"))
    problems += _namespace_rule(where, "uts", service.get("uts"), services, ())
    problems += _namespace_rule(where, "userns_mode", service.get("userns_mode"), services, ())
    problems += _namespace_rule(where, "cgroup", service.get("cgroup"), services, ("private",))
    if service.get("cap_add"):
        problems.append(_("{where}: cap_add: {caps} is not allowed (containers get a fixed small set of capabilities)",
                          where=where, caps=', '.join(map(str, service['cap_add']))))
    for key in ("devices", "device_cgroup_rules", "gpus"):
        if service.get(key):
            problems.append(_("{where}: {key} is not allowed (host devices)", where=where, key=key))
    reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    if reservations.get("devices"):
        problems.append(_("{where}: deploy.resources.reservations.devices is not allowed (host devices)", where=where))
    for option in service.get("security_opt") or []:
        text = str(option)
        if text.replace("=", ":").split(":")[0].strip().lower() == "no-new-privileges":
            continue
        why = "it turns off the container's confinement" if CONFINEMENT_OFF.match(text) else \
            "only no-new-privileges is accepted"
        problems.append(_("{where}: security_opt '{text}' is not allowed ({why})", where=where, text=text, why=why))
    if service.get("cgroup_parent"):
        problems.append(_("{where}: cgroup_parent is not allowed (the grader places every container)", where=where))
    if service.get("runtime") not in (None, "", "runc"):
        problems.append(_("{where}: runtime: {runtime} is not allowed", where=where, runtime=service['runtime']))
    if _truthy(service.get("oom_kill_disable")):
        problems.append(_("{where}: oom_kill_disable: true is not allowed (a container over its memory limit must be "
                          "killed, not frozen)", where=where))
    try:
        if int(service.get("oom_score_adj") or 0) < 0:
            problems.append(_("{where}: a negative oom_score_adj is not allowed", where=where))
    except (TypeError, ValueError):
        pass
    if service.get("external_links"):
        problems.append(_("{where}: external_links is not allowed (containers outside this project)", where=where))
    for network, config in (service.get("networks") or {}).items():
        if isinstance(config, dict) and (config.get("ipv4_address") or config.get("ipv6_address")):
            problems.append(_("{where}: networks.{network}: fixed IP addresses are not allowed", where=where,
                              network=network))
    problems += _check_volumes(where, service, root, model)
    for path in _file_list(service.get("env_file")):  # normally inlined by `compose config`; still checked
        if not _inside(_resolve(path, root), root):
            problems.append(_("{where}: env_file '{path}' is outside the submission folder", where=where, path=path))
    if service.get("build"):
        problems += _check_build(where, service["build"], root, services)
    return problems


def _check_top_level(model: dict[str, Any], root: Path) -> list[str]:
    problems = []
    project = model.get("name")
    for section in ("networks", "volumes"):
        for key, item in sorted((model.get(section) or {}).items()):
            item = item or {}
            where = f"{section}.{key}"
            singular = section[:-1]
            if _truthy(item.get("external")) or isinstance(item.get("external"), dict):
                problems.append(_("{where}: external: true is not allowed (a {singular} outside this project)",
                                  where=where, singular=singular))
                continue
            if project and item.get("name") and item["name"] != f"{project}_{key}":
                problems.append(_("{where}: name: {name} is not allowed (it could be an existing {singular} outside "
                                  "this project)", where=where, name=item['name'], singular=singular))
            driver = item.get("driver")
            if section == "networks":
                if driver not in (None, "", "bridge"):
                    problems.append(_("{where}: driver: {driver} is not allowed (only bridge)", where=where,
                                      driver=driver))
                if item.get("driver_opts"):
                    problems.append(_("{where}: driver_opts are not allowed", where=where))
                if (item.get("ipam") or {}).get("config") or (item.get("ipam") or {}).get("driver"):
                    problems.append(_("{where}: ipam settings are not allowed (a fixed subnet can clash with the "
                                      "host's networks)", where=where))
            else:
                if driver not in (None, "", "local"):
                    problems.append(_("{where}: driver: {driver} is not allowed (only local)", where=where,
                                      driver=driver))
                problems += _check_driver_opts(where, item.get("driver_opts") or {}, root)
    for section in ("secrets", "configs"):
        for key, item in sorted((model.get(section) or {}).items()):
            item = item or {}
            where = f"{section}.{key}"
            if _truthy(item.get("external")) or isinstance(item.get("external"), dict):
                problems.append(_("{where}: external: true is not allowed", where=where))
            if item.get("environment"):
                problems.append(_("{where}: environment: {environment} is not allowed (it would read the grader's "
                                  "environment)", where=where, environment=item['environment']))
            if item.get("file") and not _inside(_resolve(str(item["file"]), root), root):
                problems.append(_("{where}: file '{file}' is outside the submission folder", where=where,
                                  file=item['file']))
    return problems


def _check_driver_opts(where: str, opts: dict[str, Any], root: Path) -> list[str]:
    """A local volume may be a tmpfs or a bind of a folder of the submission; nothing else
    (a bind of /etc, an NFS or CIFS mount, a block device)."""
    if not opts:
        return []
    kind = str(opts.get("type", ""))
    options = str(opts.get("o", ""))
    device = str(opts.get("device", ""))
    if kind == "tmpfs" and device in ("", "tmpfs") and "bind" not in options:
        return []
    if "bind" in options.split(",") and device and _inside(_resolve(device, root), root):
        return []
    return [_("{where}: driver_opts {opts} are not allowed (only a tmpfs, or a bind of a folder of the submission)",
              where=where, opts=opts)]


def check_model(model: dict[str, Any], submission: Path, max_services: int | None = None) -> list[str]:
    """Pass 3: the normalised compose model (`docker compose config --format json`)."""
    root = submission.resolve()
    problems = []
    count = len(model.get("services") or {})
    if max_services is not None and count > max_services:
        problems.append(_("the stack has {count} services, more than the {max_services} allowed", count=count,
                          max_services=max_services))
    for name, service in sorted((model.get("services") or {}).items()):
        problems += _check_service(name, service or {}, root, model)
    return problems + _check_top_level(model, root)

#!/usr/bin/env python3
"""Generate Docker AuthZ plugin request samples (AuthZPlugin.AuthZReq payloads).

Run with:  python3 make_samples.py   (writes ./requests/*.json and ./requests/index.json)

What each sample models
-----------------------
* Each sample is what dockerd passes to `/AuthZPlugin.AuthZReq` for one API call.
  dockerd builds it in moby `pkg/authorization/authz.go` (`Ctx.AuthZRequest`) and
  serialises it with Go's encoding/json:
    - JSON keys are `RequestMethod`, `RequestUri` (note the spelling), `RequestBody`,
      `RequestHeaders`, plus `User` and `UserAuthNMethod` (TLS only) and
      `RequestPeerCertificates` (TLS only). Empty fields are left out (omitempty).
    - `RequestBody` is a []byte, so it is standard base64 with padding. It is only
      present when the request's Content-Type media type is application/json, the
      path is not an /auth endpoint, and the body is non-empty.
    - `RequestHeaders` is a flat map (one value per header, the last one wins). Go's
      server canonicalises header names, keeps `Content-Length`, moves `Host` and
      `Transfer-Encoding` out of the map, and the authz middleware drops
      `Authorization`, `X-Registry-Auth` and `X-Registry-Config`.
    - `RequestUri` is the raw request-target exactly as the client sent it: no
      decoding, no path cleaning, query string included.
* Bodies from the docker CLI follow docker/cli v24.0.9
  (`cli/command/container/opts.go` `parse()`), with the moby v24.0.9 API types
  (`api/types/container` Config, HostConfig, Resources, and `network.NetworkingConfig`)
  and moby v24.0.9's client (`client/request.go` encodeData = json.NewEncoder, so the body
  ends with a newline). That CLI talks API v1.43 over the unix socket with
  `User-Agent: Docker-Client/24.0.9 (linux)` and no Accept-Encoding (go-connections
  disables compression on unix sockets).
* Field order matches Go struct order. Go map keys are sorted. Go's HTML escaping of
  < > & is reproduced.

The `expect_docker_cis` numbering is CIS Docker Benchmark v1.6.0, as implemented in
docker/docker-bench-security tests/5_container_runtime.sh (see CIS-section5.md).
"""
import base64
import copy
import hashlib
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "requests")

API = "v1.43"  # Docker Engine 24.0 API version
CLI_UA = "Docker-Client/24.0.9 (linux)"
CURL_UA = "curl/7.88.1"

# Self-signed test certificate (CN=client, Ed25519), used only to show the shape of
# RequestPeerCertificates for a TLS client. It was generated once with
# `openssl req -x509 -newkey ed25519 -nodes -subj /CN=client -days 3650`; the private
# key was discarded.
TEST_CLIENT_CERT_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBNjCB6aADAgECAhRB4cZBr3IsJjCJIi/M5lJKsqbJhjAFBgMrZXAwETEPMA0G\n"
    "A1UEAwwGY2xpZW50MB4XDTI2MTEyOTAxNTU1NloXDTM2MTEyNjAxNTU1NlowETEP\n"
    "MA0GA1UEAwwGY2xpZW50MCowBQYDK2VwAyEADoZ1zrv17aRx74Jv0p3k2LGavX8i\n"
    "bI+GkfyalR0vDvOjUzBRMB0GA1UdDgQWBBSrhsYAgoGFNMP6+zKe8FnzPmf/HzAf\n"
    "BgNVHSMEGDAWgBSrhsYAgoGFNMP6+zKe8FnzPmf/HzAPBgNVHRMBAf8EBTADAQH/\n"
    "MAUGAytlcANBAMxybGfXyPS9pfcq0Us+IW53inoWGh+nbf1NgYaS8ATN8l4s81CN\n"
    "VSSvMzXkCm785Tz+klhhHp5+SB99hcySXgQ=\n"
    "-----END CERTIFICATE-----\n"
)


# --------------------------------------------------------------------------------------
# Go encoding/json emulation
# --------------------------------------------------------------------------------------
def go_json(obj, trailing_newline=True):
    """Serialise like Go's json.Encoder: compact, HTML-escaped, newline-terminated."""
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    s = s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return (s + ("\n" if trailing_newline else "")).encode("utf-8")


def gomap(d):
    """A Go map: keys are emitted sorted."""
    return {k: d[k] for k in sorted(d)}


def fake_id(name):
    return hashlib.sha256(("conformance-sample:" + name).encode()).hexdigest()


# --------------------------------------------------------------------------------------
# docker CLI v24.0.9 `docker run`/`docker create` body (container.Config + HostConfig +
# NetworkingConfig), defaults as produced by cli/command/container/opts.go parse().
# --------------------------------------------------------------------------------------
def cli_config(image, cmd=None, detach=True):
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": not detach,  # -d clears the attach flags (run.go)
        "AttachStderr": not detach,
        # "ExposedPorts": omitempty, set by -p/--expose
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,  # opts.ReadKVEnvStrings with no -e/--env-file returns nil
        "Cmd": cmd,
        # "Healthcheck": omitempty, set by --health-*
        "Image": image,
        "Volumes": {},  # ListOpts.GetMap() is never nil
        "WorkingDir": "",
        "Entrypoint": None,
        # "MacAddress": omitempty
        "OnBuild": None,
        "Labels": {},
        # "StopSignal", "StopTimeout", "Shell": omitempty
    }


def cli_host_config():
    hc = {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",  # opts.NetworkOpt.NetworkMode() default
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},  # --restart default "no"
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        # "Annotations": omitempty
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],  # GetAllOrEmpty()
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        # "StorageOpt", "Tmpfs": omitempty
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        # "Sysctls", "Runtime": omitempty
        "Isolation": "",
        # ---- embedded Resources (inlined at this position) ----
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        # "KernelMemory", "KernelMemoryTCP": omitempty
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": -1,  # --memory-swappiness default
        "OomKillDisable": False,
        "PidsLimit": 0,  # v24 CLI always sends &pidsLimit
        "Ulimits": None,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        # ---- end Resources ----
        # "Mounts": omitempty
        "MaskedPaths": None,
        "ReadonlyPaths": None,
        # "Init": omitempty
    }
    return hc


def insert_after(d, after_key, key, value):
    """Insert key after after_key, keeping Go struct order for omitempty fields."""
    out = {}
    for k, v in d.items():
        out[k] = v
        if k == after_key:
            out[key] = value
    if key not in out:
        raise KeyError(after_key)
    return out


def cli_create_body(image, cmd=None, detach=True, config=None, host=None, ports=None,
                    mounts=None, healthcheck=None, endpoints=None, tmpfs=None):
    """Assemble the JSON body of POST /containers/create as the v24 CLI builds it.

    `config` / `host` are dicts of field overrides. `ports` is a dict
    {"80/tcp": [{"HostIp": "...", "HostPort": "..."}]} as produced by nat.ParsePortSpecs.
    """
    c = cli_config(image, cmd, detach)
    h = cli_host_config()
    for k, v in (config or {}).items():
        if k not in c:
            raise KeyError(k)
        c[k] = v
    for k, v in (host or {}).items():
        if k not in h:
            raise KeyError(k)
        h[k] = v
    if ports:
        c = insert_after(c, "AttachStderr", "ExposedPorts", gomap({p: {} for p in ports}))
        h["PortBindings"] = gomap(ports)
    if healthcheck:
        c = insert_after(c, "Cmd", "Healthcheck", healthcheck)
    if tmpfs:
        h = insert_after(h, "SecurityOpt", "Tmpfs", gomap(tmpfs))
    if mounts:
        h = insert_after(h, "IOMaximumBandwidth", "Mounts", mounts)
    body = dict(c)
    body["HostConfig"] = h
    body["NetworkingConfig"] = {"EndpointsConfig": gomap(endpoints or {})}
    return body


# --------------------------------------------------------------------------------------
# AuthZReq assembly
# --------------------------------------------------------------------------------------
def authz_request(method, uri, body=None, headers=None, user=None, authn=None, peer_pem=None,
                  body_sent=True):
    """Build the AuthZReq object as dockerd serialises it (field order = Go struct order)."""
    req = {}
    if user:
        req["User"] = user
    if authn:
        req["UserAuthNMethod"] = authn
    req["RequestMethod"] = method
    req["RequestUri"] = uri
    if body and body_sent:
        req["RequestBody"] = base64.b64encode(body).decode("ascii")
    if headers:
        req["RequestHeaders"] = gomap(headers)
    if peer_pem:
        req["RequestPeerCertificates"] = [base64.b64encode(peer_pem.encode()).decode("ascii")]
    return req


def cli_headers(body=None, method="POST"):
    h = {"User-Agent": CLI_UA}
    if body is not None:
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(body))
    elif method in ("POST", "PUT", "PATCH"):
        h["Content-Length"] = "0"  # Go's transport sends Content-Length: 0 for body-less POST
    return h


# --------------------------------------------------------------------------------------
# CIS section 5 hygiene controls that can be judged from a create request alone
# (docker-bench-security v1.6.0 logic; assumes daemon defaults, e.g. no daemon-wide
# --no-new-privileges)
# --------------------------------------------------------------------------------------
def cis_hardening_gaps(body):
    h = body.get("HostConfig") or {}
    gaps = []
    if (h.get("Memory") or 0) == 0:
        gaps.append("5.11")
    if (h.get("CpuShares") or 0) == 0 and (h.get("NanoCpus") or 0) == 0:
        gaps.append("5.12")
    if not h.get("ReadonlyRootfs"):
        gaps.append("5.13")
    if not any("no-new-privileges" in o for o in (h.get("SecurityOpt") or [])):
        gaps.append("5.26")
    if h.get("PidsLimit") in (0, None, -1):
        gaps.append("5.29")
    return gaps


SAMPLES = []


def add(name, description, expect, request, cli=None, body_obj=None, dockerd_calls_authz=True,
        dockerd_behaviour=None, notes=None, hardening_from=None, policy_hint=None):
    s = {"description": description}
    if cli:
        s["cli"] = cli
    s["expect_docker_cis"] = expect
    if hardening_from is not None:
        s["cis_hardening_gaps"] = cis_hardening_gaps(hardening_from)
    if policy_hint:
        s["policy_hint"] = policy_hint
    s["dockerd_calls_authz"] = dockerd_calls_authz
    if dockerd_behaviour:
        s["dockerd_behaviour"] = dockerd_behaviour
    if notes:
        s["notes"] = notes
    s["request_body_decoded"] = body_obj
    s["authz_request"] = request
    SAMPLES.append((name, s))


CREATE_ROUTED = "routed to POST /containers/create (container create handler)"


def run_sample(name, description, expect, cli, image="nginx:1.25", cmd=None, cname=None,
               uri_path=None, **kw):
    extra = {k: kw.pop(k) for k in list(kw) if k in ("notes", "policy_hint", "dockerd_behaviour",
                                                     "dockerd_calls_authz")}
    body_obj = cli_create_body(image, cmd, **kw)
    body = go_json(body_obj)
    uri = uri_path or f"/{API}/containers/create"
    if cname:
        uri += f"?name={cname}"
    add(name, description, expect, authz_request("POST", uri, body, cli_headers(body)), cli=cli,
        body_obj=body_obj, hardening_from=body_obj,
        dockerd_behaviour=extra.pop("dockerd_behaviour", CREATE_ROUTED), **extra)


# ---------------------------------- container create ----------------------------------
run_sample("run_plain", "docker run of a public image with no extra flags. Nothing dangerous, but "
           "none of the hardening options are set.", "none", "docker run -d --name web nginx:1.25",
           cname="web")

run_sample("run_hardened", "docker run with the CIS hardening flags: read-only rootfs, memory, CPU "
           "shares, pids limit, no-new-privileges, every capability dropped, non-root user, "
           "healthcheck, port published on loopback only.", "none",
           "docker run -d --name web --read-only --tmpfs /tmp --memory 256m --cpu-shares 512 "
           "--pids-limit 100 --security-opt no-new-privileges --cap-drop ALL --user 1000:1000 "
           "--health-cmd 'wget -q -O /dev/null http://localhost:8080/ || exit 1' "
           "-p 127.0.0.1:8080:8080 registry.example.com/team/app:1.4.2",
           image="registry.example.com/team/app:1.4.2", cname="web",
           config={"User": "1000:1000"},
           healthcheck={"Test": ["CMD-SHELL", "wget -q -O /dev/null http://localhost:8080/ || exit 1"]},
           ports={"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
           host={"ReadonlyRootfs": True, "Memory": 268435456, "CpuShares": 512, "PidsLimit": 100,
                 "SecurityOpt": ["no-new-privileges"], "CapDrop": ["ALL"]},
           tmpfs={"/tmp": ""})

run_sample("run_privileged", "docker run --privileged: every capability, every device, no seccomp "
           "and no AppArmor confinement.", ["5.5"], "docker run -d --privileged alpine:3.19 sleep 1d",
           image="alpine:3.19", cmd=["sleep", "1d"], host={"Privileged": True})

run_sample("run_pid_host", "docker run --pid=host: shares the host PID namespace.", ["5.16"],
           "docker run -d --pid=host alpine:3.19 sleep 1d", image="alpine:3.19", cmd=["sleep", "1d"],
           host={"PidMode": "host"})

run_sample("run_network_host", "docker run --network=host: shares the host network namespace.",
           ["5.10"], "docker run -d --network=host nginx:1.25", host={"NetworkMode": "host"},
           notes=["A single non-user-defined network with no options leaves EndpointsConfig empty "
                  "(docker/cli parseNetworkOpts)."])

run_sample("run_ipc_host", "docker run --ipc=host: shares the host IPC namespace.", ["5.17"],
           "docker run -d --ipc=host alpine:3.19 sleep 1d", image="alpine:3.19", cmd=["sleep", "1d"],
           host={"IpcMode": "host"})

run_sample("run_uts_host", "docker run --uts=host: shares the host UTS namespace (the hostname).",
           ["5.21"], "docker run -d --uts=host alpine:3.19 sleep 1d", image="alpine:3.19",
           cmd=["sleep", "1d"], host={"UTSMode": "host"})

run_sample("run_userns_host", "docker run --userns=host: turns off user-namespace remapping for "
           "this container on a daemon that has it enabled.", ["5.31"],
           "docker run -d --userns=host alpine:3.19 sleep 1d", image="alpine:3.19",
           cmd=["sleep", "1d"], host={"UsernsMode": "host"})

run_sample("run_cap_add_sys_admin", "docker run --cap-add=SYS_ADMIN. The v24 client sends the "
           "name as typed. Clients from moby v28.0 on normalise it to \"CAP_SYS_ADMIN\".",
           ["5.4"], "docker run -d --cap-add=SYS_ADMIN alpine:3.19 sleep 1d", image="alpine:3.19",
           cmd=["sleep", "1d"], host={"CapAdd": ["SYS_ADMIN"]})

run_sample("run_cap_add_all", "docker run --cap-add=ALL: every capability. Close to privileged, "
           "but devices stay restricted.", ["5.4"],
           "docker run -d --cap-add=ALL alpine:3.19 sleep 1d", image="alpine:3.19", cmd=["sleep", "1d"],
           host={"CapAdd": ["ALL"]})

run_sample("run_cap_drop_all_add_net_bind", "docker run --cap-drop=ALL --cap-add=NET_BIND_SERVICE: "
           "the least-privilege capability set that CIS recommends.", "none",
           "docker run -d --cap-drop=ALL --cap-add=NET_BIND_SERVICE nginx:1.25",
           host={"CapAdd": ["NET_BIND_SERVICE"], "CapDrop": ["ALL"]})

run_sample("run_bind_host_root", "docker run -v /:/host: read-write bind mount of the host root "
           "filesystem.", ["5.6"], "docker run -d -v /:/host alpine:3.19 sleep 1d",
           image="alpine:3.19", cmd=["sleep", "1d"], host={"Binds": ["/:/host"]})

run_sample("run_bind_docker_sock", "docker run -v /var/run/docker.sock:/var/run/docker.sock: the "
           "container gets full control of the daemon.", ["5.32"],
           "docker run -d -v /var/run/docker.sock:/var/run/docker.sock docker:24-cli sleep 1d",
           image="docker:24-cli", cmd=["sleep", "1d"],
           host={"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]})

run_sample("run_mount_bind_etc", "docker run --mount type=bind,source=/etc,target=/etc: a "
           "sensitive host directory, given through HostConfig.Mounts instead of Binds.", ["5.6"],
           "docker run -d --mount type=bind,source=/etc,target=/etc alpine:3.19 sleep 1d",
           image="alpine:3.19", cmd=["sleep", "1d"],
           mounts=[{"Type": "bind", "Source": "/etc", "Target": "/etc"}])

run_sample("run_device_sda", "docker run --device /dev/sda: a raw host block device, with "
           "CgroupPermissions defaulting to rwm.", ["5.18"],
           "docker run -d --device /dev/sda alpine:3.19 sleep 1d", image="alpine:3.19",
           cmd=["sleep", "1d"],
           host={"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda",
                              "CgroupPermissions": "rwm"}]})

run_sample("run_seccomp_unconfined", "docker run --security-opt seccomp=unconfined: turns off the "
           "default seccomp profile.", ["5.22"],
           "docker run -d --security-opt seccomp=unconfined alpine:3.19 sleep 1d",
           image="alpine:3.19", cmd=["sleep", "1d"], host={"SecurityOpt": ["seccomp=unconfined"]})

run_sample("run_apparmor_unconfined", "docker run --security-opt apparmor=unconfined: turns off "
           "AppArmor confinement.", ["5.2"],
           "docker run -d --security-opt apparmor=unconfined alpine:3.19 sleep 1d",
           image="alpine:3.19", cmd=["sleep", "1d"], host={"SecurityOpt": ["apparmor=unconfined"]})

run_sample("run_label_disable", "docker run --security-opt label=disable: turns off SELinux "
           "labelling for the container.", ["5.3"],
           "docker run -d --security-opt label=disable alpine:3.19 sleep 1d", image="alpine:3.19",
           cmd=["sleep", "1d"], host={"SecurityOpt": ["label=disable"]},
           notes=["This goes against the intent of CIS 5.3. docker-bench-security's automated 5.3 "
                  "test only checks that SecurityOpt is non-empty, so it would NOT flag this "
                  "container."])

run_sample("run_publish_all_interfaces_80", "docker run -p 0.0.0.0:80:80: a privileged host port "
           "(<1025) bound on every interface.", ["5.8", "5.14"],
           "docker run -d -p 0.0.0.0:80:80 nginx:1.25",
           ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}]})

run_sample("run_publish_localhost_8080", "docker run -p 127.0.0.1:8080:80: an unprivileged host "
           "port bound on loopback only.", "none", "docker run -d -p 127.0.0.1:8080:80 nginx:1.25",
           ports={"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]})

run_sample("run_publish_default_interface_8080", "docker run -p 8080:80: no host IP given, so "
           "HostIp is empty, which the daemon binds on every interface.", ["5.14"],
           "docker run -d -p 8080:80 nginx:1.25",
           ports={"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
           notes=["docker-bench reads `docker port`, which shows 0.0.0.0 (and ::) for an empty HostIp."])

run_sample("run_read_only", "docker run --read-only: read-only root filesystem.", "none",
           "docker run -d --read-only nginx:1.25", host={"ReadonlyRootfs": True})

run_sample("run_user_1000", "docker run --user 1000:1000: runs as a non-root user and group.",
           "none", "docker run -d --user 1000:1000 alpine:3.19 sleep 1d", image="alpine:3.19",
           cmd=["sleep", "1d"], config={"User": "1000:1000"},
           notes=["The non-root user control is CIS 4.1, in section 4, not section 5."])

run_sample("run_memory_pids_limit", "docker run --memory 512m --pids-limit 100: memory and PID "
           "limits set.", "none", "docker run -d --memory 512m --pids-limit 100 nginx:1.25",
           host={"Memory": 536870912, "PidsLimit": 100})

run_sample("run_restart_on_failure_10", "docker run --restart on-failure:10: more retries than "
           "the recommended 5.", ["5.15"], "docker run -d --restart on-failure:10 nginx:1.25",
           host={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 10}})

run_sample("run_untrusted_registry", "docker run of an image from a registry that is not on the "
           "allow-list (evil.example.com).", "none", "docker run -d evil.example.com/x:latest",
           image="evil.example.com/x:latest",
           policy_hint="deny under a registry allow-list policy. CIS section 5 has no control for "
                       "this; see CIS 4.2 (trusted base images) and 5.28 (image versions, manual)")

run_sample("run_allowed_registry", "docker run of a pinned image from an allowed registry.",
           "none", "docker run -d registry.example.com/team/app:1.4.2",
           image="registry.example.com/team/app:1.4.2",
           policy_hint="allow under a registry allow-list that contains registry.example.com")

# ---------------------------------- image pull ----------------------------------------
def pull_sample(name, description, ref_query, cli, policy_hint):
    uri = f"/{API}/images/create?{ref_query}"
    add(name, description, "none", authz_request("POST", uri, None, cli_headers(None)), cli=cli,
        dockerd_behaviour="routed to POST /images/create (pull). The client's X-Registry-Auth "
                          "header is stripped before the plugin sees the request",
        policy_hint=policy_hint)


pull_sample("pull_untrusted_registry", "docker pull from a registry that is not on the allow-list. "
            "There is no body, and the image reference is split into the fromImage and tag query "
            "parameters ('/' encoded as %2F).", "fromImage=evil.example.com%2Fx&tag=latest",
            "docker pull evil.example.com/x:latest", "deny under a registry allow-list policy")
pull_sample("pull_allowed_registry", "docker pull from an allowed registry.",
            "fromImage=registry.example.com%2Fteam%2Fapp&tag=1.4.2",
            "docker pull registry.example.com/team/app:1.4.2",
            "allow under a registry allow-list that contains registry.example.com")
pull_sample("pull_docker_hub_official", "docker pull of a Docker Hub official image. The client "
            "sends the familiar short name, so there is no docker.io/library/ prefix in fromImage.",
            "fromImage=nginx&tag=1.25", "docker pull nginx:1.25",
            "docker.io/library/nginx after normalisation. Allow only if Docker Hub is on the allow-list")


# ---------------------------------- exec ----------------------------------------------
def exec_sample(name, description, expect, cli, user="", privileged=False, cmd=("id",)):
    body_obj = {"User": user, "Privileged": privileged, "Tty": False, "AttachStdin": False,
                "AttachStderr": True, "AttachStdout": True, "Detach": False, "DetachKeys": "",
                "Env": None, "WorkingDir": "", "Cmd": list(cmd)}
    body = go_json(body_obj)
    add(name, description, expect,
        authz_request("POST", f"/{API}/containers/web/exec", body, cli_headers(body)), cli=cli,
        body_obj=body_obj, dockerd_behaviour="routed to POST /containers/{name}/exec (exec create). "
        "The exec start that follows (POST /exec/{id}/start) is a separate authz call, and its "
        "hijacked stream is not inspected")


exec_sample("exec_privileged", "docker exec --privileged into a running container.", ["5.23"],
            "docker exec --privileged web id", privileged=True)
exec_sample("exec_user_root", "docker exec -u root into a running container.", ["5.24"],
            "docker exec -u root web id", user="root")
exec_sample("exec_user_uid0", "docker exec -u 0:0. Numeric root, same effect as -u root.",
            ["5.24"], "docker exec -u 0:0 web id", user="0:0")
exec_sample("exec_plain", "docker exec with no user or privilege override.", "none",
            "docker exec web id")


# ---------------------------------- update --------------------------------------------
def update_body(memory=0, pids=None, restart=None):
    # docker/cli v24 runUpdate(): only the Resources fields below are set. The rest are Go zero
    # values: nil slices/pointers -> null.
    r = {"CpuShares": 0, "Memory": memory, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
         "BlkioWeightDevice": None, "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None,
         "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0,
         "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
         "Devices": None, "DeviceCgroupRules": None, "DeviceRequests": None,
         "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None,
         "OomKillDisable": None, "PidsLimit": pids, "Ulimits": None, "CpuCount": 0,
         "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
         "RestartPolicy": restart or {"Name": "", "MaximumRetryCount": 0}}
    return r


def update_sample(name, description, expect, cli, **kw):
    body_obj = update_body(**kw)
    body = go_json(body_obj)
    add(name, description, expect,
        authz_request("POST", f"/{API}/containers/web/update", body, cli_headers(body)), cli=cli,
        body_obj=body_obj, dockerd_behaviour="routed to POST /containers/{name}/update")


update_sample("update_memory_pids", "docker update that sets memory and PID limits.", "none",
              "docker update --memory 1g --pids-limit 200 web", memory=1073741824, pids=200)
update_sample("update_restart_on_failure_10", "docker update that changes the restart policy to "
              "on-failure with 10 retries.", ["5.15"], "docker update --restart on-failure:10 web",
              restart={"Name": "on-failure", "MaximumRetryCount": 10})
update_sample("update_pids_unlimited", "docker update --pids-limit -1: removes the PID limit.",
              ["5.29"], "docker update --pids-limit -1 web", pids=-1)

# ---------------------------------- read-only / lifecycle ------------------------------
add("list_containers", "docker ps: a read-only call. GET with no body and no Content-Type.",
    "none", authz_request("GET", f"/{API}/containers/json", None, cli_headers(None, "GET")),
    cli="docker ps", dockerd_behaviour="routed to GET /containers/json")
add("ping_head", "The version-negotiation ping the CLI sends before anything else. The path has "
    "no version prefix. A plugin that denies it breaks every CLI command.", "none",
    authz_request("HEAD", "/_ping", None, cli_headers(None, "HEAD")), cli="(any docker command)",
    dockerd_behaviour="routed to HEAD /_ping")
add("start_container", "docker start, or the second step of docker run. A POST with no body.", "none",
    authz_request("POST", f"/{API}/containers/{fake_id('web')}/start", None, cli_headers(None)),
    cli="docker start web (the CLI uses the ID returned by create during docker run)",
    dockerd_behaviour="routed to POST /containers/{id}/start")
add("tls_list_containers", "docker ps over TCP+TLS with a client certificate (CN=client). dockerd "
    "fills in User from the certificate's CN, sets UserAuthNMethod to TLS, and adds each peer "
    "certificate as base64 of its PEM text. Go's TCP transport also adds Accept-Encoding: gzip.",
    "none", authz_request("GET", f"/{API}/containers/json", None,
                          {"User-Agent": CLI_UA, "Accept-Encoding": "gzip"}, user="client",
                          authn="TLS", peer_pem=TEST_CLIENT_CERT_PEM),
    cli="docker --tlsverify -H tcp://docker.example.com:2376 ps",
    dockerd_behaviour="routed to GET /containers/json",
    notes=["The certificate is a self-signed test certificate made for this corpus."])

# ---------------------------------- URL variants --------------------------------------
PRIV = cli_create_body("alpine:3.19", ["sleep", "1d"], host={"Privileged": True})
PRIV_BODY = go_json(PRIV)


def url_variant(name, description, uri, behaviour, calls_authz=True, notes=None):
    add(name, description, ["5.5"], authz_request("POST", uri, PRIV_BODY, cli_headers(PRIV_BODY)),
        cli="(privileged create body as sent by docker run -d --privileged alpine:3.19 sleep 1d; URI "
            "varied by a raw API client)", body_obj=PRIV, dockerd_calls_authz=calls_authz,
        dockerd_behaviour=behaviour, notes=notes)


url_variant("url_no_version_prefix", "Privileged create without the /vX.Y prefix. dockerd "
            "registers every route with and without the prefix, and uses its default API version "
            "for requests without one.", "/containers/create", CREATE_ROUTED)
url_variant("url_old_api_version", "Privileged create at an old API version (v1.24). dockerd 24 "
            "accepts versions down to 1.12. Later daemons have a configurable minimum "
            "(DOCKER_MIN_API_VERSION; default 1.24 in 25.0-28.x, 1.44 in 29.0-29.2, 1.40 from 29.3). "
            "Below the minimum, authz is still consulted and then the version middleware returns 400.",
            "/v1.24/containers/create", CREATE_ROUTED + " on daemons whose minimum API version is "
            "1.24 or lower")
url_variant("url_future_api_version", "Privileged create at an API version newer than the daemon "
            "supports.", "/v1.99/containers/create",
            "authz IS consulted first: the authz middleware wraps the version middleware. The "
            "version middleware then rejects the request with 400 \"client version 1.99 is too new\"")
url_variant("url_percent_encoded_path", "Privileged create with a percent-encoded path segment "
            "(%63 = 'c'). The plugin sees the raw URI. gorilla/mux matches routes against the "
            "decoded path, so dockerd still runs the create handler.",
            f"/{API}/containers/%63reate", CREATE_ROUTED,
            notes=["A policy that matches on the raw RequestUri without decoding it misses this "
                   "request."])
url_variant("url_percent_encoded_slash_in_path", "Privileged create with the path separator "
            "percent-encoded ('containers%2Fcreate'). The plugin sees one path segment. "
            "gorilla/mux matches against the decoded URL.Path '/v1.43/containers/create', so "
            "dockerd runs the create handler.", f"/{API}/containers%2Fcreate", CREATE_ROUTED,
            notes=["A policy that splits the raw RequestUri on '/' without decoding it misses this "
                   "request."])
url_variant("url_percent_encoded_slash_in_name", "Privileged create whose ?name= value is "
            "percent-encoded ('%2F' and '%20'). The name is invalid, so the daemon rejects it "
            "after authz.", f"/{API}/containers/create?name=web%2F..%2Fx%20y",
            "authz consulted. The handler then rejects the invalid container name (400)")
url_variant("url_query_string_extra", "Privileged create with extra query parameters (name and "
            "platform), including an unknown parameter that dockerd ignores.",
            f"/{API}/containers/create?name=web&platform=linux%2Famd64&foo=bar", CREATE_ROUTED)
url_variant("url_trailing_slash", "Privileged create with a trailing slash.",
            f"/{API}/containers/create/",
            "NOT routed: no route matches, so the versioned catch-all answers 404 \"page not found\" "
            "without running the middleware chain. dockerd never sends this to a plugin. It is "
            "included for socket proxies, which see raw requests", calls_authz=False)
url_variant("url_double_slash", "Privileged create with a doubled slash.",
            f"/{API}//containers/create",
            "NOT routed: gorilla/mux path cleaning answers 301 to the cleaned path before "
            "routing, so there is no authz call. A client that follows the redirect re-sends as "
            "GET without the body", calls_authz=False)
url_variant("url_dot_segment", "Privileged create with a '..' path segment.",
            f"/{API}/containers/../containers/create",
            "NOT routed: gorilla/mux path cleaning answers 301 to /v1.43/containers/create, so "
            "there is no authz call", calls_authz=False)
url_variant("url_uppercase_path", "Privileged create with different letter case in the path.",
            f"/{API}/Containers/create",
            "NOT routed: routes are case-sensitive, so the answer is 404 without authz",
            calls_authz=False)

# ---------------------------------- body encoding edge cases ---------------------------
add("content_type_with_charset", "Privileged create with Content-Type 'application/json; "
    "charset=utf-8'. Since 2018, dockerd uses mime.ParseMediaType, so the body IS sent to the "
    "plugin.", ["5.5"],
    authz_request("POST", f"/{API}/containers/create", PRIV_BODY,
                  {"User-Agent": CLI_UA, "Content-Type": "application/json; charset=utf-8",
                   "Content-Length": str(len(PRIV_BODY))}),
    cli="(raw API client)", body_obj=PRIV, dockerd_behaviour=CREATE_ROUTED)

add("content_type_text_plain", "Privileged create body sent with Content-Type text/plain. dockerd "
    "sends no RequestBody to the plugin, because the type is not application/json. The create "
    "handler then rejects the request (CheckForJSON: 400 unsupported Content-Type), so nothing runs.",
    ["5.5"], authz_request("POST", f"/{API}/containers/create", PRIV_BODY,
                           {"User-Agent": CURL_UA, "Accept": "*/*", "Content-Type": "text/plain",
                            "Content-Length": str(len(PRIV_BODY))}, body_sent=False),
    cli="curl --unix-socket /var/run/docker.sock -H 'Content-Type: text/plain' --data-binary @body.json "
        "http://localhost/v1.43/containers/create",
    body_obj=PRIV, dockerd_behaviour="authz consulted WITHOUT the body. The handler then rejects the "
    "Content-Type (400)",
    notes=["request_body_decoded shows what the client sent. The plugin does NOT receive it.",
           "A plugin cannot tell this from a genuinely empty request. The daemon refuses it "
           "anyway. Other endpoints may not refuse it: any endpoint that reads a non-JSON body "
           "(build context tar, image load, archive PUT) is never visible to the plugin."])

RAW_PRIV = {"Image": "alpine:3.19", "Cmd": ["sleep", "1d"], "HostConfig": {"Privileged": True}}
RAW_PRIV_BODY = json.dumps(RAW_PRIV, separators=(",", ":")).encode()


def raw_sample(name, description, expect, body_text, notes=None, behaviour=CREATE_ROUTED,
               body_obj=None):
    body = body_text.encode()
    add(name, description, expect,
        authz_request("POST", f"/{API}/containers/create", body,
                      {"User-Agent": CURL_UA, "Accept": "*/*", "Content-Type": "application/json",
                       "Content-Length": str(len(body))}),
        cli="curl --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' "
            "-d '" + body_text + "' http://localhost/v1.43/containers/create",
        body_obj=body_obj if body_obj is not None else json.loads(body_text),
        dockerd_behaviour=behaviour, notes=notes)


raw_sample("raw_minimal_privileged", "A minimal hand-written create body from curl: no zero-valued "
           "fields and no trailing newline.", ["5.5"], RAW_PRIV_BODY.decode())
raw_sample("raw_lowercase_keys_privileged", "Privileged create with lower-case JSON keys. dockerd "
           "decodes with Go's encoding/json, which matches field names case-insensitively, so "
           "'hostconfig'/'privileged' set HostConfig.Privileged.", ["5.5"],
           '{"Image":"alpine:3.19","Cmd":["sleep","1d"],"hostconfig":{"privileged":true}}',
           notes=["A policy that looks up 'HostConfig' and 'Privileged' case-sensitively misses this "
                  "request."])
raw_sample("raw_duplicate_keys_privileged", "Privileged create with the key 'Privileged' twice. Go's "
           "decoder keeps the LAST value (true). A parser that keeps the first value sees false.",
           ["5.5"],
           '{"Image":"alpine:3.19","Cmd":["sleep","1d"],"HostConfig":{"Privileged":false,"Privileged":true}}',
           body_obj='{"Image":"alpine:3.19","Cmd":["sleep","1d"],"HostConfig":{"Privileged":false,"Privileged":true}}',
           notes=["request_body_decoded is given as raw text here, because the object has a duplicate key."])
raw_sample("raw_legacy_toplevel_privileged", "Privileged create with HostConfig fields at the TOP "
           "level and no 'HostConfig' object. dockerd up to 26.1 embedded HostConfig in its "
           "decode wrapper (runconfig.ContainerConfigWrapper) and used it when no inner "
           "HostConfig was sent. Since 27.0 (moby commit 2954b05) the top-level fields are "
           "ignored.", ["5.5"], '{"Image":"alpine:3.19","Cmd":["sleep","1d"],"Privileged":true}',
           behaviour="routed to create. Privileged takes effect on dockerd <= 26.1, is ignored on >= 27.0")
raw_sample("raw_cap_add_cap_prefix", "cap-add written as 'CAP_SYS_ADMIN', the form that moby "
           "client >= v28.0 sends (client normalises CapAdd/CapDrop).", ["5.4"],
           '{"Image":"alpine:3.19","Cmd":["sleep","1d"],"HostConfig":{"CapAdd":["CAP_SYS_ADMIN"]}}')
raw_sample("raw_cap_add_lowercase", "cap-add written in lower case ('cap_sys_admin'). The daemon "
           "upper-cases names and adds CAP_ when missing, so this is SYS_ADMIN.", ["5.4"],
           '{"Image":"alpine:3.19","Cmd":["sleep","1d"],"HostConfig":{"CapAdd":["cap_sys_admin"]}}')

# CVE-2024-41110: request sent with Transfer-Encoding: chunked, so there is no Content-Length.
# Go's server removes Transfer-Encoding from the header map and sets ContentLength = -1.
CHUNKED_HEADERS = {"User-Agent": CURL_UA, "Accept": "*/*", "Content-Type": "application/json"}
add("cve_2024_41110_chunked_fixed", "Privileged create sent with Transfer-Encoding: chunked, as a "
    "FIXED dockerd forwards it. The body is present, and RequestHeaders has no Content-Length and "
    "no Transfer-Encoding.", ["5.5"],
    authz_request("POST", f"/{API}/containers/create", RAW_PRIV_BODY, CHUNKED_HEADERS),
    cli="curl --unix-socket /var/run/docker.sock -H 'Transfer-Encoding: chunked' -H 'Content-Type: "
        "application/json' -d '" + RAW_PRIV_BODY.decode() + "' http://localhost/v1.43/containers/create",
    body_obj=RAW_PRIV, dockerd_behaviour=CREATE_ROUTED,
    notes=["Fixed releases: 23.0.15, 25.0.6, 26.1.5, 27.1.1 and later (and 18.09.1 originally). "
           "Since 29.3.1 (CVE-2026-34040 fix), dockerd buffers up to 4 MiB for every JSON request "
           "and rejects larger ones."])
add("cve_2024_41110_chunked_vulnerable", "The same chunked privileged create, as an AFFECTED dockerd "
    "(19.03 to 27.1.0, excluding the fixed patch releases) forwarded it: NO RequestBody, although the "
    "daemon then decoded and executed the full body. A plugin must not allow a body-less POST "
    "/containers/create (or exec/update) when Content-Type is application/json.", ["5.5"],
    authz_request("POST", f"/{API}/containers/create", RAW_PRIV_BODY, CHUNKED_HEADERS,
                  body_sent=False),
    cli="(same request as cve_2024_41110_chunked_fixed)", body_obj=RAW_PRIV,
    dockerd_behaviour="on affected versions: authz consulted without the body, then the privileged "
                      "container is created",
    notes=["request_body_decoded shows what the client sent. The plugin does NOT receive it."])


# --------------------------------------------------------------------------------------
def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    index = []
    names = set()
    for name, s in SAMPLES:
        assert name not in names, name
        names.add(name)
        # self-checks
        req = s["authz_request"]
        if "RequestBody" in req:
            raw = base64.b64decode(req["RequestBody"])
            ct = req["RequestHeaders"].get("Content-Type", "")
            assert ct.split(";")[0].strip() == "application/json", name
            if "Content-Length" in req["RequestHeaders"]:
                assert int(req["RequestHeaders"]["Content-Length"]) == len(raw), name
            if isinstance(s["request_body_decoded"], dict):
                assert json.loads(raw) == s["request_body_decoded"] or name.startswith("raw_lowercase"), name
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(s, f, indent=2)
            f.write("\n")
        index.append({"file": name + ".json", "method": req["RequestMethod"], "uri": req["RequestUri"],
                      "expect_docker_cis": s["expect_docker_cis"],
                      "dockerd_calls_authz": s["dockerd_calls_authz"]})
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump({"generator": "make_samples.py", "count": len(index), "samples": index}, f, indent=2)
        f.write("\n")
    print(f"wrote {len(index)} samples to {OUT}")


if __name__ == "__main__":
    main()

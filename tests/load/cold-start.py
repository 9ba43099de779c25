#!/usr/bin/env python3
"""Cold start: time from starting `portcullis serve` with an empty compile cache to its first
admission answer (the Pod review of tests/load/pod-review.json, posted to /validate over TLS),
as a pod of the chart starts: certificate from files, cache volume empty.

    tests/load/cold-start.py BIN [ROUNDS] [POLICIES]

POLICIES is a YAML file with a `policies:` section (default: deploy/config/portcullis.yaml,
the built-in default set).

Each round uses a new, empty cache directory. Rounds alternate between the built-ins
compiled ahead of time (`BIN precompile`, found through runtime.precompiledDir) and none, so
both figures come from the same conditions. Prints each round and the medians.
"""

import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 18543


def first_answer(bin_path, config, log):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    body = open(os.path.join(HERE, "pod-review.json"), "rb").read()
    request = (
        b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        + body
    )
    started = time.perf_counter()
    server = subprocess.Popen(
        [bin_path, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=log
    )
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"serve exited with {server.returncode}; see {log.name}")
            try:
                with socket.create_connection(("127.0.0.1", PORT), timeout=5) as raw:
                    with context.wrap_socket(raw, server_hostname="localhost") as tls:
                        tls.sendall(request)
                        answer = b""
                        while chunk := tls.recv(65536):
                            answer += chunk
                if not answer.startswith(b"HTTP/1.1 200"):
                    raise SystemExit(f"unexpected answer: {answer[:200]!r}")
                return time.perf_counter() - started
            except (ConnectionRefusedError, ConnectionResetError):
                time.sleep(0.001)
    finally:
        server.terminate()
        server.wait()


def main():
    bin_path = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    policies = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
        HERE, "..", "..", "deploy", "config", "portcullis.yaml")
    work = tempfile.mkdtemp()
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-subj", "/CN=localhost", "-days", "1",
             "-keyout", f"{work}/tls.key", "-out", f"{work}/tls.crt"],
            check=True, capture_output=True,
        )
        precompiled = f"{work}/precompiled"
        subprocess.run([bin_path, "precompile", precompiled], check=True, capture_output=True)
        policy_lines = open(policies).read()
        times = {"precompiled": [], "compiled": []}
        with open(f"{work}/serve.log", "w") as log:
            for i in range(rounds):
                for kind in times:
                    cache = f"{work}/cache-{kind}-{i}"
                    config = f"{work}/{kind}-{i}.yaml"
                    runtime = f"runtime:\n  cacheDir: {cache}\n"
                    runtime += (f"  precompiledDir: {precompiled}\n" if kind == "precompiled"
                                else f"  precompiledDir: {work}/none\n")
                    with open(config, "w") as f:
                        f.write(
                            f"server:\n  address: 127.0.0.1:{PORT}\n  tls:\n"
                            f"    certFile: {work}/tls.crt\n    keyFile: {work}/tls.key\n"
                            f"kubernetes:\n  namespaceLabels: off\n"
                            f"audit:\n  file: {work}/audit.log\n  stdout: false\n"
                            + runtime + policy_lines
                        )
                    seconds = first_answer(bin_path, config, log)
                    times[kind].append(seconds)
                    print(f"round {i + 1} {kind:>11}: {seconds * 1000:7.1f} ms", flush=True)
        for kind, values in times.items():
            print(f"median {kind:>11}: {statistics.median(values) * 1000:7.1f} ms")
        print(json.dumps({k: [round(v * 1000, 1) for v in vs] for k, vs in times.items()}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

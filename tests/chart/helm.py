"""Renders and lints the chart with Helm's own engine (the Helm SDK behind helm-python-sdk),
for the end-to-end tests: no helm binary needed.

    helm.py render CHART_DIR VALUES_JSON [RELEASE [NAMESPACE]]  -> {"template": "manifest", ...}
    helm.py lint CHART_DIR VALUES_JSON                          -> the lint report
    helm.py manifests CHART_DIR VALUES_JSON                     -> the render as one YAML stream

Prints JSON (or YAML) on stdout; exits 1 with the error on stderr when Helm refuses.
"""

import json
import sys

try:
    import helm_python as helm
except ImportError:
    sys.exit(
        "helm-python-sdk is not installed: python3 -m venv target/helm-venv && "
        "target/helm-venv/bin/pip install helm-python-sdk==0.2.2"
    )


def main() -> None:
    command, chart_dir, values = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    try:
        if command == "render":
            release = sys.argv[4] if len(sys.argv) > 4 else "portcullis"
            namespace = sys.argv[5] if len(sys.argv) > 5 else "portcullis"
            chart = helm.Chart.load(chart_dir)
            chart.validate_schema(values)
            out = chart.render(values, name=release, namespace=namespace, is_install=True)
        elif command == "manifests":
            chart = helm.Chart.load(chart_dir)
            rendered = chart.render(values, name="portcullis", namespace="portcullis", is_install=True)
            for name in sorted(rendered):
                text = rendered[name].strip()
                if name.endswith(".yaml") and text:
                    print("---")
                    print(text)
            return
        elif command == "lint":
            # Linted for the Kubernetes version the values render for, as `helm lint
            # --kube-version` does: deprecation checks then judge the API versions chosen.
            kube = values.get("kubeVersionOverride")
            kube = ("v" + kube.lstrip("v")) if kube else None
            out = helm.lint(
                chart_dir, values, strict=True, namespace="portcullis", kube_version=kube
            )
        else:
            sys.exit(f"unknown command {command!r}")
    except helm.HelmError as e:
        sys.exit(f"helm: {e}")
    json.dump(out, sys.stdout)


main()

//! The command line: `portcullis eval` decides one request offline, `portcullis policies`
//! lists the built-in policies. (The webhook and Docker plugin server is `portcullis serve`.)

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::eval::{self, Input};
use crate::policy_set::PolicySet;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "One admission policy engine for Kubernetes and Docker, with policies in WebAssembly",
    long_about = "Portcullis decides Kubernetes admission requests and Docker API calls with the \
                  same WebAssembly policies.\n\n\
                  Try it offline:\n  portcullis eval deploy/examples/pod-privileged.yaml\n\n\
                  Without --config the built-in default policy set is used \
                  (deploy/config/portcullis.yaml): pss-baseline on Kubernetes, every Pod \
                  Security Standards baseline check decided as Pod Security Admission decides \
                  it; cis-docker and docker-escapes on Docker, the CIS Docker Benchmark \
                  section 5 controls a request shows and the host escapes it has no number for."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide one request offline and print the exact response the server would send.
    ///
    /// REQUEST is a file (or - for stdin) holding one of:
    ///   - a Kubernetes AdmissionReview (JSON or YAML): prints the review with its response;
    ///   - a bare Kubernetes object such as a Pod or Deployment (JSON or YAML), decided as a
    ///     CREATE: prints the AdmissionReview response;
    ///   - a Docker authz request, the JSON dockerd posts to /AuthZPlugin.AuthZReq: prints
    ///     {"Allow":…,"Msg":…,"Err":…}.
    ///
    /// Exits 0 when a decision was made (allowed or denied), 2 when the request or the
    /// configuration cannot be read.
    #[command(verbatim_doc_comment)]
    Eval(EvalArgs),
    /// Serve the Kubernetes admission webhook over HTTPS, and the Docker authorization
    /// plugin on a unix socket when one is given.
    ///
    /// Without a certificate, a CA and a serving certificate for localhost/127.0.0.1 (or the
    /// config's server.tls.dnsNames and ipAddresses) are made at start-up and the CA is
    /// written to server.tls.caBundleFile (default ~/.cache/portcullis/ca.pem): use it as the
    /// caBundle of a ValidatingWebhookConfiguration / MutatingWebhookConfiguration whose
    /// clientConfig.url is https://HOST:8443/validate (or /mutate). With
    /// kubernetes.registration in the config, the engine registers those itself instead (see
    /// `portcullis register --help`), serving the certificate of the shared Secret.
    ///
    /// Endpoints: POST /validate, /mutate, /validate/POLICY, /mutate/POLICY; GET /healthz,
    /// /readyz, /metrics. SIGHUP (or a change of the config file) reloads the policies;
    /// SIGTERM finishes requests in flight and flushes the audit log.
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Register the webhook configurations once, as `serve` does at start-up, and exit.
    ///
    /// Needs kubernetes.registration in the config and a cluster (in-cluster service account
    /// or KUBECONFIG). Makes the shared CA Secret when it is missing, then creates or updates
    /// the ValidatingWebhookConfiguration and MutatingWebhookConfiguration with rules derived
    /// from the policies' match rules. Objects of the same name without the label
    /// app.kubernetes.io/managed-by=portcullis are left alone and reported; the exit code is
    /// then 1. Nothing is ever deleted.
    #[command(verbatim_doc_comment)]
    Register(RegisterArgs),
    /// Decide what already runs with the configured policies, and report what they find:
    /// what enforce mode would refuse, before it is switched on.
    ///
    /// Each object is decided as if it were created now, through the same path as a
    /// request; nothing is changed (a mutating policy's patch is reported). Output: a table
    /// of counts by policy and namespace with the first findings (default);
    /// --format json, one line per finding (docs/audit.md names the fields); or
    /// --format html, one self-contained page with charts (> report.html).
    ///
    /// Exits 0 when the audit ran (whatever it found), 1 when some kinds could not be
    /// listed (the rest was audited; stderr says which), 2 when it could not run.
    #[command(verbatim_doc_comment)]
    Audit {
        #[command(subcommand)]
        door: AuditDoor,
    },
    /// Run policy test suites: requests for either door and the decision each must get.
    ///
    /// PATH is a suite file (YAML), a Markdown page whose ```yaml portcullis-test blocks
    /// are suites (documented examples run as written), or a directory searched for both
    /// (YAML files with a top-level `cases:`). Default: the current directory.
    ///
    /// A suite:
    ///   policy: {module: builtin:privileged, settings: {}}   # or: config: portcullis.yaml
    ///   cases:
    ///     - name: privileged init container
    ///       pod: {initContainers: [{name: init, image: busybox,
    ///                               securityContext: {privileged: true}}]}
    ///       expect: {allowed: false, message: 'container "init"'}
    ///     - name: docker run --privileged
    ///       docker: docker run --privileged alpine
    ///       expect: {allowed: false, message: HostConfig.Privileged}
    ///
    /// A case's request is one of: object (a Kubernetes object, with operation, oldObject,
    /// namespace, namespaceLabels, user, groups, subresource, dryRun), pod (a Pod spec),
    /// review (an AdmissionReview), docker (a docker run/create/exec/pull command line),
    /// authz (a Docker authz request; RequestBody may be JSON), file (any of those in a
    /// file). expect: allowed (required), message (fragments), warnings (fragments; [] for
    /// none), patch (the exact JSON Patch; null for none).
    ///
    /// Exits 0 when every case passed, 1 when any failed or a suite could not run, 2 when
    /// no suite was found or a path cannot be read.
    #[command(verbatim_doc_comment)]
    Test(TestArgs),
    /// Start a policy project: settings with their JSON Schema, a first check with unit
    /// tests, test suites for both doors, a README. In Rust (default) a crate on the
    /// Portcullis SDK; with --lang js an ES module built with componentize-js.
    ///
    /// Then, in the new directory:
    ///   cargo test                                      # Rust: unit tests
    ///   cargo build --release --target wasm32-wasip2    # Rust: the component
    ///   npm install && npm test && npm run build        # JavaScript: the same
    ///   portcullis test tests/                          # the component, both doors
    ///
    /// The SDK comes from --sdk: path:DIR (a checkout's policies-wasm/sdk, or an unpacked
    /// `cargo package` of it), git:URL[#REV], or version:REQ once it is on a registry.
    /// Default: this project's repository at this release's tag.
    #[command(verbatim_doc_comment)]
    New(NewArgs),
    /// Publish a policy component to an OCI registry, as a wasm artifact (config
    /// application/vnd.wasm.config.v0+json, one application/wasm layer, as ORAS and other
    /// tools move them), and print the digest to pin.
    ///
    /// Configs then load it with `module: oci://REGISTRY/REPO:TAG` (or `…@sha256:DIGEST`),
    /// pulled once and kept by digest; `verify: {keys: [...]}` requires a cosign signature
    /// of that digest (sign it with `cosign sign --key cosign.key REGISTRY/REPO@DIGEST`).
    ///
    /// Example:
    ///   portcullis push target/wasm32-wasip2/release/team_images.wasm \
    ///       oci://registry.example.com/policies/team-images:0.1.0 \
    ///       --username ci --password-stdin < token
    #[command(verbatim_doc_comment)]
    Push(PushArgs),
    /// Show what a policy module is: its name, version, doors, whether it mutates, the ABI
    /// it was built against, the capabilities it needs granted, and its settings' JSON Schema.
    ///
    /// MODULE is `builtin:NAME` or a .wasm component. `serve`, `eval` and `test` check a
    /// policy's settings against the same schema at load, naming the offending field.
    ///
    /// Example: portcullis inspect builtin:host-mounts --format json | jq .settingsSchema
    #[command(verbatim_doc_comment)]
    Inspect {
        /// `builtin:NAME` or a path to a .wasm component.
        #[arg(value_name = "MODULE")]
        module: String,
        #[arg(long, value_enum, default_value_t = InspectFormat::Text)]
        format: InspectFormat,
    },
    /// List the built-in policies (use them in a config as `module: builtin:NAME`).
    Policies,
    /// Compile the built-in policies ahead of time into DIR, so a server started with an
    /// empty compile cache answers at once instead of compiling them first.
    ///
    /// `serve` and `eval` look for them in `precompiled/` beside their own executable (the
    /// container image puts them in /precompiled, beside /portcullis), or in
    /// runtime.precompiledDir. The code is built for this architecture without this
    /// machine's CPU extensions, so it runs on any machine of the architecture; a file the
    /// running engine cannot use (another Portcullis or wasmtime version) is reported and
    /// that policy compiled as usual.
    Precompile {
        /// Directory to write the compiled policies to (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The policy component (.wasm) to publish.
    #[arg(value_name = "MODULE")]
    pub module: PathBuf,
    /// Where: oci://REGISTRY/REPOSITORY:TAG.
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    /// Registry user; the password is read from standard input (--password-stdin).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password (or token) from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// A PEM bundle of CAs trusted for the registry, besides the platform's roots.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Reach the registry over plain HTTP.
    #[arg(long)]
    pub insecure: bool,
    /// Take the registry settings (credentials, caFile, insecure) from this config's
    /// `registry:` section instead.
    #[arg(long, short, value_name = "FILE", conflicts_with_all = ["username", "ca_file", "insecure"])]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The policy's name (lower-case letters, digits, hyphens): the directory, the crate and
    /// the name configs refer to.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Where to write the project (default: ./NAME).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where the SDK comes from: path:DIR, git:URL[#REV] or version:REQ.
    #[arg(long, value_name = "SOURCE")]
    pub sdk: Option<crate::scaffold::SdkSource>,
    /// The language of the policy.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A crate on the Portcullis SDK, built with cargo (wasm32-wasip2).
    Rust,
    /// An ES module built with componentize-js from npm (Node.js 20 and npm).
    #[value(alias = "javascript")]
    Js,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum AuditDoor {
    /// Every Pod and pod-template object (Deployments, CronJobs, ...) the policies match,
    /// read from the cluster (in-cluster service account or KUBECONFIG) a page at a time.
    ///
    /// Kinds come from the policies' match rules: a policy without kinds audits Pods,
    /// ReplicationControllers, PodTemplates, Deployments, ReplicaSets, StatefulSets,
    /// DaemonSets, Jobs and CronJobs, each at the first version the API server serves.
    /// Needs get/list on those and on namespaces (for namespace selectors and Pod
    /// Security labels).
    ///
    /// Example: portcullis audit kubernetes -n team-a --format json
    #[command(verbatim_doc_comment)]
    Kubernetes(KubernetesAuditArgs),
    /// Every container (running and stopped), swarm service and installed plugin of a Docker
    /// daemon, and the daemon's own settings.
    ///
    /// A container is decided as the `docker create` its inspect describes, a service as the
    /// create of its spec, a plugin as the enable that runs it, each through the Docker door
    /// (what they refer to looked up in the daemon). The daemon's settings are the CIS
    /// Docker Benchmark section 2 items (2.1 to 2.18, numbered as docker-bench numbers
    /// them), read from `GET /info` and the default bridge, and where the API does not say,
    /// from dockerd's command line (/proc/PID/cmdline: run as root on the daemon's host)
    /// and its daemon.json. They are reported as `cis-docker-daemon`, never enforced.
    ///
    /// Example: portcullis audit docker -H unix:///var/run/docker.sock --format json
    #[command(verbatim_doc_comment)]
    Docker(DockerAuditArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DockerAuditSubject {
    Containers,
    Services,
    Plugins,
    Daemon,
}

#[derive(Debug, clap::Args)]
pub struct DockerAuditArgs {
    #[command(flatten)]
    pub common: AuditCommon,
    /// The daemon: unix:///PATH on this host, or tcp+tls://HOST:PORT on another (with
    /// --tlscacert, --tlscert, --tlskey). Default: docker.daemon from the config, else
    /// unix:///var/run/docker.sock.
    #[arg(long, short = 'H', value_name = "ADDRESS")]
    pub host: Option<String>,
    /// The daemon's configuration file, for what the API does not say (default: the one its
    /// --config-file names, else /etc/docker/daemon.json).
    #[arg(long, value_name = "FILE")]
    pub daemon_json: Option<PathBuf>,
    /// For a tcp+tls:// host: the CA that signed the daemon's certificate (default:
    /// $DOCKER_CERT_PATH/ca.pem, as the docker CLI finds it).
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// For a tcp+tls:// host: the client certificate dockerd's --tlsverify asks for
    /// (default: $DOCKER_CERT_PATH/cert.pem when it exists).
    #[arg(long, value_name = "FILE", requires = "tlskey")]
    pub tlscert: Option<PathBuf>,
    /// The key of --tlscert (default: $DOCKER_CERT_PATH/key.pem).
    #[arg(long, value_name = "FILE", requires = "tlscert")]
    pub tlskey: Option<PathBuf>,
    /// Leave out these daemon setting items (`--exclude 2.1 --exclude 2.8`).
    #[arg(long, value_name = "ID")]
    pub exclude: Vec<String>,
    /// Audit only these (default: all), e.g. `--only containers,daemon`.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "WHAT")]
    pub only: Vec<DockerAuditSubject>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Counts by policy and namespace, then the first findings.
    Table,
    /// One JSON object per line for each finding.
    Json,
    /// One self-contained HTML page with charts (redirect it to a file).
    Html,
}

#[derive(Debug, clap::Args)]
pub struct AuditCommon {
    /// Configuration (YAML); without it, the built-in default policy set.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only this policy (its name in the config).
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
    /// With --format json, also a line for each policy an object passes.
    #[arg(long)]
    pub show_passes: bool,
}

#[derive(Debug, clap::Args)]
pub struct KubernetesAuditArgs {
    #[command(flatten)]
    pub common: AuditCommon,
    /// Only this namespace.
    #[arg(long, short, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Only objects with these labels, as kubectl's -l (`app=web,tier!=db`).
    #[arg(long, short = 'l', value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Objects per list request: what the audit holds in memory at once.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub page_size: u32,
    /// Also write each object's results to the cluster as a PolicyReport (wgpolicyk8s.io,
    /// the format Kyverno's and Kubewarden's UIs read), replacing the previous audit's, and
    /// delete reports of objects no policy matches any more. Needs the Policy Report CRDs
    /// (the chart installs them; deploy/kubernetes/policyreport-crds.yaml).
    #[arg(long, conflicts_with = "policy")]
    pub write_reports: bool,
}

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// Configuration (YAML) with a kubernetes.registration section.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration (YAML); without it, the built-in default policy set.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address of the HTTPS listener (overrides server.address; default 0.0.0.0:8443).
    #[arg(long, value_name = "ADDR")]
    pub address: Option<std::net::SocketAddr>,
    /// PEM certificate chain (with --tls-key); reloaded when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Also serve the Docker authorization plugin on this unix socket.
    #[arg(long, value_name = "PATH")]
    pub docker_socket: Option<PathBuf>,
    /// Write audit records to this file (rotated by size) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub audit_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Suite files, Markdown pages or directories.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML to FILE, for CI.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Policy configuration (YAML); without it, the built-in default policy set.
    #[arg(long, short, value_name = "FILE", conflicts_with = "policy")]
    pub config: Option<PathBuf>,
    /// Evaluate with this one policy module instead (a .wasm component you are writing).
    #[arg(long, value_name = "FILE.wasm")]
    pub policy: Option<PathBuf>,
    /// Settings for --policy, as JSON.
    #[arg(long, value_name = "JSON", requires = "policy", default_value = "{}")]
    pub settings: String,
    /// Also print each policy's result and timing on stderr.
    #[arg(long, short)]
    pub verbose: bool,
    /// The request file, or - for standard input.
    #[arg(value_name = "REQUEST")]
    pub request: PathBuf,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Policies => {
            for name in crate::builtin::names() {
                println!("builtin:{name}");
            }
            Ok(())
        }
        Command::Precompile { dir } => {
            let started = std::time::Instant::now();
            let written = crate::runtime::precompile_builtins(
                &crate::runtime::RuntimeOptions::default(),
                &dir,
            )
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .with_context(|| format!("cannot precompile into {}", dir.display()))?;
            println!(
                "{} built-in policy components compiled into {} in {:.1} s",
                written.len(),
                dir.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Eval(args) => eval_command(args),
        Command::Test(args) => test_command(args),
        Command::New(args) => {
            let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
            let sdk = args
                .sdk
                .unwrap_or_else(crate::scaffold::SdkSource::default_git);
            let (lang, steps) = match args.lang {
                Lang::Rust => (
                    crate::scaffold::Lang::Rust,
                    "cargo test\n  cargo build --release --target wasm32-wasip2",
                ),
                Lang::Js => (
                    crate::scaffold::Lang::JavaScript,
                    "npm install\n  npm test\n  npm run build",
                ),
            };
            let files =
                crate::scaffold::new_project(&args.name, &dir, lang, &sdk).map_err(|e| {
                    eprintln!("error: {e}");
                    std::process::exit(2)
                })?;
            println!(
                "created policy {:?} in {} ({} files)\n\n  cd {}\n  {steps}\n  portcullis test tests/",
                args.name,
                dir.display(),
                files.len(),
                dir.display()
            );
            Ok(())
        }
        Command::Push(args) => push_command(args),
        Command::Inspect { module, format } => {
            let inspection = crate::inspect::inspect(&module).map_err(|e| {
                eprintln!("error: {e}");
                std::process::exit(2)
            })?;
            match format {
                InspectFormat::Text => print!("{}", inspection.human()),
                InspectFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&inspection).expect("inspections serialize")
                ),
            }
            Ok(())
        }
        Command::Audit {
            door: AuditDoor::Kubernetes(args),
        } => audit_kubernetes_command(args),
        Command::Audit {
            door: AuditDoor::Docker(args),
        } => audit_docker_command(args),
        Command::Serve(args) => serve_command(args),
        Command::Register(args) => register_command(args),
    }
}

fn register_command(args: RegisterArgs) -> anyhow::Result<()> {
    use crate::kubernetes::registration;
    let config = Config::load(&args.config)?;
    let Some(settings) = config.kubernetes.registration.clone() else {
        bail!(
            "{}: no kubernetes.registration section: nothing to register",
            args.config.display()
        );
    };
    if settings.tls_secret.is_none() {
        bail!(
            "kubernetes.registration.tlsSecret is not set: without it the CA lives only in the \
             serving process, so only `portcullis serve` can register it"
        );
    }
    let policies = PolicySet::load(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let problems = runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("cannot reach the API server")?;
        let shared = registration::shared_certificate(
            &client,
            &settings,
            config.kubernetes.own_namespace().as_deref(),
        )
        .await?;
        anyhow::Ok(registration::sync(&client, &settings, &policies, &shared.ca).await)
    })?;
    if problems.is_empty() {
        println!(
            "registered ValidatingWebhookConfiguration and MutatingWebhookConfiguration {:?}",
            settings.name
        );
        return Ok(());
    }
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    std::process::exit(1);
}

fn serve_command(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = config_or_default(args.config.as_deref())?;
    if let Some(address) = args.address {
        config.server.address = address;
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.server.tls.cert_file = Some(cert);
        config.server.tls.key_file = Some(key);
    }
    if args.docker_socket.is_some() {
        config.server.docker_socket = args.docker_socket;
    }
    if args.audit_file.is_some() {
        config.audit.file = args.audit_file;
        config.audit.stdout = false;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let options = crate::server::ServeOptions {
        config_path: args.config,
        bound: None,
    };
    runtime.block_on(crate::server::serve(config, options))?;
    Ok(())
}

fn audit_kubernetes_command(args: KubernetesAuditArgs) -> anyhow::Result<()> {
    use crate::background::{self, Output as _, kubernetes as audit};
    use crate::kubernetes::{ReviewOptions, claims, namespaces};

    let config = config_or_default(args.common.config.as_deref())?;
    let policies = PolicySet::load(&config)?;
    if let Some(name) = &args.common.policy
        && !policies.contains(name)
        && !name.starts_with("pod-security")
    {
        bail!("--policy {name}: no policy of that name in the configuration");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (client, namespaces, claims) = runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("cannot reach the API server")?;
        client
            .apiserver_version()
            .await
            .context("cannot reach the API server")?;
        let namespaces = namespaces::connect()
            .await
            .context("cannot watch namespaces")?;
        let claims: Option<std::sync::Arc<claims::ClaimCache>> = match claims::connect().await {
            Ok(claims) => Some(claims),
            Err(e) => {
                tracing::warn!(
                    "cannot watch volume claims ({e}); claims are not seen through to the \
                     host paths they are bound to"
                );
                None
            }
        };
        anyhow::Ok((client, namespaces, claims))
    })?;
    let own_namespace = config.kubernetes.own_namespace();
    let review = ReviewOptions {
        only: args.common.policy.as_deref(),
        namespaces: &*namespaces,
        claims: match &claims {
            Some(claims) => &**claims,
            None => &crate::matching::NoCluster,
        },
        own_namespace: own_namespace.as_deref(),
        ..ReviewOptions::default()
    };
    let options = audit::Options {
        namespace: args.namespace,
        selector: args.selector,
        only: args.common.policy.clone(),
        page_size: args.page_size.max(1),
    };
    let mut output = audit_output(
        &args.common,
        "Namespace",
        report_title("Kubernetes", options.namespace.as_deref()),
    );
    let mut reports = args.write_reports.then(|| {
        let cleanup = match (&options.namespace, &options.selector) {
            (_, Some(_)) => background::policy_report::Cleanup::Nothing,
            (Some(ns), None) => background::policy_report::Cleanup::Namespace(ns.clone()),
            (None, None) => background::policy_report::Cleanup::All,
        };
        background::policy_report::PolicyReports::new(runtime.handle(), client.clone(), cleanup)
    });
    let mut outputs = background::Outputs(vec![&mut *output]);
    if let Some(reports) = reports.as_mut() {
        outputs.0.push(reports);
    }
    let progress = progress_bar("objects");
    let (summary, skipped) = audit::run(
        runtime.handle(),
        &client,
        &policies,
        &options,
        &review,
        &mut outputs,
        &progress,
    )?;
    progress.finish_and_clear();
    outputs.finish(&summary)?;
    drop(outputs);
    if let Some(reports) = reports {
        eprintln!(
            "portcullis: wrote {} policy reports, deleted {} stale ones",
            reports.written, reports.deleted
        );
    }
    for s in &skipped {
        eprintln!("portcullis: not audited: {s}");
    }
    if skipped.iter().any(|s| s.failed) {
        std::process::exit(1);
    }
    Ok(())
}

fn audit_docker_command(args: DockerAuditArgs) -> anyhow::Result<()> {
    use crate::background::{daemon_settings, docker as audit};
    use crate::docker::daemon::Daemon;

    let mut config = config_or_default(args.common.config.as_deref())?;
    if let Some(host) = &args.host {
        config.docker.daemon = host.clone();
    }
    if config.docker.daemon.is_empty() {
        config.docker.daemon = "unix:///var/run/docker.sock".into();
    }
    let daemon = if config.docker.daemon.starts_with("tcp+tls://") {
        // Another host's paths are not this one's: bind sources are decided as written.
        config.docker.host_root = String::new();
        Daemon::remote(&config.docker.daemon, docker_tls(&args)?)
    } else if config.docker.daemon.starts_with("tcp://") {
        Err(format!(
            "{:?}: a daemon on another host is audited only over TLS: \
             tcp+tls://HOST:PORT with --tlscacert (and --tlscert, --tlskey)",
            config.docker.daemon
        ))
    } else {
        Daemon::new(&config.docker.daemon)
    }
    .map_err(|e| anyhow::anyhow!("--host: {e}"))?;
    for id in &args.exclude {
        if !daemon_settings::ids().any(|known| known == id) {
            bail!("--exclude {id}: not a daemon setting item (2.1 to 2.18)");
        }
    }
    let policies = PolicySet::load(&config)?;
    if let Some(name) = &args.common.policy
        && !policies.contains(name)
        && name != daemon_settings::POLICY
    {
        bail!("--policy {name}: no policy of that name in the configuration");
    }
    let wanted = |what: DockerAuditSubject| args.only.is_empty() || args.only.contains(&what);
    let subjects = [
        (DockerAuditSubject::Containers, audit::Subject::Container),
        (DockerAuditSubject::Services, audit::Subject::Service),
        (DockerAuditSubject::Plugins, audit::Subject::Plugin),
        (DockerAuditSubject::Daemon, audit::Subject::Daemon),
    ]
    .into_iter()
    .filter(|(what, _)| wanted(*what))
    .map(|(_, subject)| subject)
    .collect();
    let options = audit::Options {
        subjects,
        exclude: args.exclude.clone(),
        daemon_json: args.daemon_json.clone(),
        only: args.common.policy.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut output = audit_output(
        &args.common,
        "Object",
        report_title("Docker", Some(&config.docker.daemon)),
    );
    let progress = progress_bar("objects");
    let summary = audit::run(
        runtime.handle(),
        &daemon,
        &policies,
        &config.docker_plugin_name(),
        &options,
        &mut *output,
        &progress,
    )?;
    progress.finish_and_clear();
    output.finish(&summary)?;
    Ok(())
}

/// The TLS client for a remote daemon: its CA, and the client certificate when there is one,
/// from the flags or where the docker CLI looks ($DOCKER_CERT_PATH, else ~/.docker).
fn docker_tls(args: &DockerAuditArgs) -> anyhow::Result<std::sync::Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let cert_dir = std::env::var_os("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    let in_dir = |name: &str| cert_dir.as_ref().map(|d| d.join(name));
    let ca = args
        .tlscacert
        .clone()
        .or_else(|| in_dir("ca.pem"))
        .context("--tlscacert is needed for a tcp+tls:// host")?;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&ca)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the CA {}", ca.display()))?;
    if certs.is_empty() {
        bail!("{}: no PEM certificate in it (--tlscacert)", ca.display());
    }
    for cert in certs {
        roots
            .add(cert)
            .with_context(|| format!("{}: not a CA certificate", ca.display()))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let client = match (&args.tlscert, &args.tlskey) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => match (in_dir("cert.pem"), in_dir("key.pem")) {
            (Some(cert), Some(key)) if cert.exists() && key.exists() => Some((cert, key)),
            _ => None,
        },
    };
    let config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(&cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(&key)
                .with_context(|| format!("cannot read the key {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("the client certificate and key do not match")?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(std::sync::Arc::new(config))
}

/// Where an audit's findings go, on standard output: `place` names what the counts are
/// grouped by (`Namespace`, `Object`).
fn audit_output(
    common: &AuditCommon,
    place: &'static str,
    title: String,
) -> Box<dyn crate::background::Output> {
    use crate::background::{html::Html, json::JsonLines, table::Table};
    let stdout = std::io::stdout().lock();
    match common.format {
        AuditFormat::Table => Box::new(Table::new(stdout, place)),
        AuditFormat::Json => Box::new(JsonLines::new(stdout, common.show_passes)),
        AuditFormat::Html => Box::new(Html::new(stdout, title, place)),
    }
}

/// `Portcullis audit: Kubernetes (team-a), 2026-12-03T06:00:00Z`.
fn report_title(door: &str, scope: Option<&str>) -> String {
    let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    match scope {
        Some(scope) => format!("Portcullis audit: {door} ({scope}), {when}"),
        None => format!("Portcullis audit: {door}, {when}"),
    }
}

/// A progress bar on stderr when it is a terminal; otherwise one that draws nothing.
fn progress_bar(unit: &'static str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{msg:>20}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)"
        ))
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

fn eval_command(args: EvalArgs) -> anyhow::Result<()> {
    let config = match (&args.config, &args.policy) {
        (Some(path), _) => Config::load(path)?,
        (None, Some(module)) => single_policy_config(module, &args.settings)?,
        (None, None) => Config::default_config(),
    };
    let text = read_request(&args.request)?;
    let input =
        Input::parse(&text).with_context(|| format!("reading {}", args.request.display()))?;
    let policies = PolicySet::load(&config)?;
    let started = std::time::Instant::now();
    let response = eval::evaluate_as(&policies, input, &config.docker_plugin_name())
        .with_context(|| format!("reading {}", args.request.display()))?;
    if args.verbose {
        eprintln!("decided in {} µs", started.elapsed().as_micros());
    }
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

fn push_command(args: PushArgs) -> anyhow::Result<()> {
    let Some(reference) = args.reference.strip_prefix(crate::modules::OCI_PREFIX) else {
        bail!("{}: expected oci://REGISTRY/REPOSITORY:TAG", args.reference);
    };
    let host = reference.split('/').next().unwrap_or_default().to_string();
    let (registry, base_dir) = match &args.config {
        Some(path) => {
            let config = Config::load(path)?;
            (config.registry.clone(), config.base_dir.clone())
        }
        None => {
            let mut registry = crate::config::RegistryConfig {
                ca_file: args.ca_file.clone(),
                ..Default::default()
            };
            if args.insecure {
                registry.insecure.push(host.clone());
            }
            if let Some(username) = &args.username {
                let mut password = String::new();
                std::io::stdin()
                    .read_to_string(&mut password)
                    .context("cannot read the password from standard input")?;
                registry
                    .credentials
                    .push(crate::config::RegistryCredential {
                        registry: host.clone(),
                        username: username.clone(),
                        password: Some(password.trim_end_matches(['\r', '\n']).to_string()),
                        password_file: None,
                    });
            }
            (registry, std::env::current_dir()?)
        }
    };
    let (name, version, digest) =
        crate::modules::push(&args.module, reference, &registry, &base_dir)
            .map_err(|e| anyhow::anyhow!(e))?;
    let repository = reference
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(reference, |(repository, _)| repository);
    println!("pushed {name} {version} to {}", args.reference);
    println!("digest: {digest}");
    println!("pin it: module: oci://{repository}@{digest}");
    Ok(())
}

fn test_command(args: TestArgs) -> anyhow::Result<()> {
    use crate::suite;
    let found = match suite::discover(&args.paths) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if found.is_empty() {
        eprintln!(
            "error: no test suites under {} (YAML files with `cases:`, or Markdown with \
             ```yaml {} blocks)",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            suite::MARKDOWN_TAG
        );
        std::process::exit(2);
    }
    let runtime = std::sync::Arc::new(
        crate::runtime::Runtime::new(&crate::runtime::RuntimeOptions::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let mut report = suite::Report::default();
    let mut results = Vec::new();
    for found in &found {
        let result = suite::run_suite(found, &runtime);
        print!("{}", suite::human(&result));
        report.add(&result);
        results.push(result);
    }
    println!("\n{}", report.summary());
    if let Some(path) = &args.junit {
        std::fs::write(path, suite::junit(&results))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}

/// The configuration at `path`, or the built-in default set without one.
fn config_or_default(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(path) => Config::load(path)?,
        None => Config::default_config(),
    })
}

fn single_policy_config(module: &std::path::Path, settings: &str) -> anyhow::Result<Config> {
    let settings: serde_json::Value =
        serde_json::from_str(settings).context("--settings is not JSON")?;
    if !settings.is_object() {
        bail!("--settings must be a JSON object");
    }
    let name = crate::config::policy_name_for_module(&module.display().to_string());
    let yaml = serde_json::json!({
        "policies": [{"name": name, "module": module.display().to_string(), "settings": settings, "allowedToMutate": true}]
    });
    Ok(Config::parse(
        &yaml.to_string(),
        "--policy",
        std::env::current_dir()?,
    )?)
}

fn read_request(path: &std::path::Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the request from stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read request {}", path.display()))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `--help` names every policy of the default set, so the two cannot drift apart.
    #[test]
    fn help_names_the_default_policy_set() {
        let help = super::Cli::command().render_long_help().to_string();
        let config: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(crate::config::DEFAULT_CONFIG).unwrap();
        for policy in config["policies"].as_sequence().unwrap() {
            let name = policy["name"].as_str().unwrap();
            assert!(help.contains(name), "--help does not name {name}");
        }
    }
}

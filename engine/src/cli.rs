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
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default_config(),
    };
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

fn single_policy_config(module: &std::path::Path, settings: &str) -> anyhow::Result<Config> {
    let settings: serde_json::Value =
        serde_json::from_str(settings).context("--settings is not JSON")?;
    if !settings.is_object() {
        bail!("--settings must be a JSON object");
    }
    let name = module
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("policy")
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
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

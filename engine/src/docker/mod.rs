//! The Docker door: dockerd's authorization-plugin requests in, normalized request out, and
//! `{"Allow","Msg","Err"}` back. Parsing follows dockerd exactly — a parser that disagrees
//! with dockerd is a policy bypass — and fails closed when a body needed for a decision is
//! missing.

pub mod authz;
pub mod daemon;
pub mod gojson;
pub mod host_paths;
pub mod local_images;
pub mod moby;
pub mod normalize;
pub mod references;
pub mod route;

pub use authz::{AuthzRequest, AuthzResponse};

use crate::abi::Request;
use crate::admission::{self, Admission, Scope};
use crate::config::DockerConfig;
use crate::decision::Verdict;
use crate::policy_set::PolicySet;

/// A decided authz request: the answer for dockerd and, when the request could be read,
/// what the audit log records.
pub struct Authorized {
    pub response: AuthzResponse,
    pub request: Option<Request>,
    pub verdict: Verdict,
}

impl Authorized {
    fn denied(message: String, request: Option<Request>) -> Authorized {
        let verdict = Verdict::deny(format!("denied by portcullis: {message}"));
        Authorized {
            response: AuthzResponse::from_verdict(&verdict),
            request,
            verdict,
        }
    }
}

/// A call read and normalized, waiting for what it refers to to be looked up
/// (`references.rs`) and then for its decision.
pub struct Pending {
    route: route::Route,
    request: Request,
    notes: references::Notes,
    refused: Option<String>,
    /// Whether a policy asks registries, so a create's images are looked up in the daemon.
    pin_images: bool,
    registry_context: Option<std::sync::Arc<crate::registry::Context>>,
}

/// Decides one `AuthZReq` (the whole path: [`prepare`], [`Pending::look_up`] when the call
/// refers to other objects, [`decide`]), blocking on the lookups.
pub fn authorize(policies: &PolicySet, authz: &AuthzRequest, plugin_name: &str) -> Authorized {
    let mut pending = match prepare(policies, authz, plugin_name) {
        Ok(pending) => pending,
        Err(done) => return *done,
    };
    if pending.needs_lookups() {
        let config = policies.docker_config();
        // A thread of its own: the caller may itself be running inside a runtime.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a current-thread runtime")
                        .block_on(pending.look_up(config, None, None))
                })
                .join()
                .expect("lookups do not panic")
        });
    }
    decide(policies, pending)
}

/// Reads a call: refuses what cannot be inspected, and any call that would disable or
/// remove this plugin (`plugin_name`, as dockerd knows it) — the door guards itself before
/// any policy runs, for `serve` and `eval` alike.
pub fn prepare(
    policies: &PolicySet,
    authz: &AuthzRequest,
    plugin_name: &str,
) -> Result<Pending, Box<Authorized>> {
    let route = route::parse(&authz.request_method, &authz.request_uri);
    if let route::Operation::PluginDisable { name } | route::Operation::PluginRemove { name } =
        &route.operation
        && is_this_plugin(name, plugin_name)
    {
        return Err(Box::new(Authorized::denied(
            format!(
                "the authorization plugin {plugin_name:?} cannot be disabled or removed \
                 through the Docker API"
            ),
            normalize::normalize_with(authz, policies.docker_config()).ok(),
        )));
    }
    match normalize::normalize_with(authz, policies.docker_config()) {
        Ok(request) => Ok(Pending {
            route,
            request,
            notes: Vec::new(),
            refused: None,
            pin_images: policies.asks_registries(),
            registry_context: None,
        }),
        Err(undecidable) => Err(Box::new(Authorized::denied(undecidable.to_string(), None))),
    }
}

impl Pending {
    /// Whether the call refers to objects in the daemon or to host paths.
    pub fn needs_lookups(&self) -> bool {
        references::refers_to_anything(&self.route, &self.request) || self.creates_from_images()
    }

    /// A create whose images the daemon must be asked about, for policies that ask
    /// registries.
    fn creates_from_images(&self) -> bool {
        self.pin_images
            && self.route.operation == route::Operation::ContainerCreate
            && self
                .request
                .workload
                .iter()
                .flat_map(|w| &w.containers)
                .any(|c| c.image.is_some())
    }

    /// Looks up what the call refers to, within `docker.lookupTimeout`, and folds it into
    /// the request; what cannot be looked up refuses the call unless
    /// `docker.allowUnresolved`.
    /// `watched` keeps answers between calls while the daemon reports no change (the
    /// server's); returns (asked, kept): the questions that went to the daemon and those
    /// answered from what was kept.
    pub async fn look_up(
        &mut self,
        config: &DockerConfig,
        watched: Option<&daemon::Watched>,
        created: Option<&references::Created>,
    ) -> (usize, usize) {
        // The address was checked when the config loaded.
        let daemon = daemon::Daemon::new(&config.daemon)
            .unwrap_or_else(|_| daemon::Daemon::new("").expect("no daemon is a valid daemon"));
        let lookups = daemon::Lookups::new(&daemon, config.lookup_timeout, watched);
        self.resolve(config, lookups, created).await
    }

    /// [`Pending::look_up`] for the background audit, which decides container `itself` as if
    /// it were being created: it is not one of the running containers its binds could be
    /// swapped by.
    pub async fn look_up_for_audit(
        &mut self,
        config: &DockerConfig,
        daemon: &daemon::Daemon,
        itself: Option<&str>,
    ) {
        let lookups = daemon::Lookups::new(daemon, config.lookup_timeout, None).ignoring(itself);
        self.resolve(config, lookups, None).await;
    }

    async fn resolve(
        &mut self,
        config: &DockerConfig,
        mut lookups: daemon::Lookups<'_>,
        created: Option<&references::Created>,
    ) -> (usize, usize) {
        match references::resolve(
            &self.route,
            &mut self.request,
            config,
            &mut lookups,
            created,
        )
        .await
        {
            Ok(notes) => self.notes = notes,
            Err(e) => self.refused = Some(e.to_string()),
        }
        if self.refused.is_none() && self.creates_from_images() {
            match local_images::look_up(&mut self.request, &mut lookups, &mut self.notes).await {
                Ok(local_images) => {
                    self.registry_context = Some(std::sync::Arc::new(crate::registry::Context {
                        local_images,
                        pull_secrets: None,
                    }))
                }
                Err(e) if config.allow_unresolved => self.notes.push(format!(
                    "{} could not be looked up ({}), decided by the registry",
                    e.what, e.why
                )),
                Err(e) => self.refused = Some(e.to_string()),
            }
        }
        tracing::debug!(
            operation = self.request.operation,
            asked = lookups.asked,
            kept = lookups.saved,
            "looked up the objects a Docker call refers to"
        );
        (lookups.asked, lookups.saved)
    }
}

/// Runs the policies on a read (and looked-up) call.
pub fn decide(policies: &PolicySet, pending: Pending) -> Authorized {
    let Pending {
        request,
        notes,
        refused,
        registry_context,
        ..
    } = pending;
    if let Some(why) = refused {
        return Authorized::denied(why, Some(request));
    }
    // Only user and group exemptions apply at this door.
    let mut admission = Admission::of(request);
    admission.registry_context = registry_context;
    let mut verdict = admission::evaluate(policies, &admission, &Scope::ADMISSION, None);
    if !verdict.allowed && !notes.is_empty() {
        // What the daemon said about the objects the call names, so the denial can be
        // understood from the call as it was written.
        verdict.message = format!("{} [{}]", verdict.message, notes.join("; "));
    }
    Authorized {
        response: AuthzResponse::from_verdict(&verdict),
        request: Some(admission.request),
        verdict,
    }
}

/// `portcullis`, `portcullis:latest`, `library/portcullis:1.0` all name a plugin `portcullis`.
fn is_this_plugin(name: &str, ours: &str) -> bool {
    let without_tag = name
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(name, |(n, _)| n);
    let last = without_tag.rsplit('/').next().unwrap_or(without_tag);
    last.eq_ignore_ascii_case(ours) || without_tag.eq_ignore_ascii_case(ours)
}

#[cfg(test)]
mod tests {
    use super::is_this_plugin;

    #[test]
    fn plugin_names() {
        for name in [
            "portcullis",
            "portcullis:latest",
            "library/portcullis:1.0",
            "Portcullis",
        ] {
            assert!(is_this_plugin(name, "portcullis"), "{name}");
        }
        assert!(!is_this_plugin("portcullis-other", "portcullis"));
        assert!(!is_this_plugin("vieux/sshfs:latest", "portcullis"));
    }
}

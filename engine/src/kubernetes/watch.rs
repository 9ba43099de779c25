//! A cache of every object of one kind, kept current by a watch on the API server
//! (kube-runtime's reflector): what the engine needs from the cluster, with no request to the
//! API server per decision.

use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// Starts watching every object `api` lists; `what` names them in the log. The watch retries
/// with back-off for as long as the process runs.
pub fn cached<K>(api: kube::Api<K>, what: &'static str) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Err(e) = event {
                tracing::warn!("{what} watch: {e}; retrying");
            }
        }
    });
    store
}

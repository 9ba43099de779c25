//! Namespace labels from the API server, for `namespaceSelector` match rules: a cache kept
//! current by a watch (kube-runtime's reflector), so a label change made with kubectl reaches
//! the next decision without a restart and without a request to the API server per decision.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::matching::NamespaceLabels;

/// Labels of every namespace, as last seen by the watch.
pub struct NamespaceCache {
    store: Store<Namespace>,
}

impl NamespaceLabels for NamespaceCache {
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.store
            .get(&ObjectRef::new(namespace))
            .map(|ns| ns.metadata.labels.clone().unwrap_or_default())
    }
}

/// Connects with the in-cluster service account or `KUBECONFIG`, and starts the watch.
/// Returns once the first list has filled the cache.
pub async fn connect() -> Result<Arc<NamespaceCache>, kube::Error> {
    let client = kube::Client::try_default().await?;
    // Fail now, with the API server's own error, rather than watch a server we cannot use.
    client.apiserver_version().await?;
    let api: kube::Api<Namespace> = kube::Api::all(client);
    let store = super::watch::cached(api, "namespace");
    let cache = Arc::new(NamespaceCache { store });
    if tokio::time::timeout(
        std::time::Duration::from_secs(30),
        cache.store.wait_until_ready(),
    )
    .await
    .is_err()
    {
        tracing::warn!(
            "namespace labels not listed within 30 s; selectors cannot match until they are"
        );
    }
    Ok(cache)
}

//! Which image the daemon holds under each name a container create uses. dockerd creates a
//! container from its local image store: `docker run registry/app:1` runs whatever image is
//! found under that name on this daemon (pulled earlier, or built, loaded, imported or
//! tagged from another image), and a name may also be a local alias (`docker tag`) or a
//! prefix of an image ID. Policies that ask registries (`image-signatures`) must decide
//! that image, not the registry's tag:
//!
//! - pulled as a digest of the repository the name says (`RepoDigests`): the host answers
//!   `resolve` with that digest;
//! - known to the registry only under other repositories (the name is an alias or an ID):
//!   the container's image becomes `repository@digest` of its first `RepoDigests` entry, so
//!   every policy decides where the image really came from;
//! - never pulled from any registry: the host answers that it has no registry digest.
//!
//! A name the daemon does not have is left to the registry (dockerd refuses that create,
//! and `docker run` pulls first, through this door).

use crate::abi::Request;
use crate::registry::{LocalImage, LocalImages};
use crate::workload::image;

use super::daemon::{Lookups, Object};
use super::references::{Notes, Unresolved};

/// Looks up every container image of a create; may replace a container's image by the
/// registry identity of the daemon's image under that name.
pub async fn look_up(
    request: &mut Request,
    lookups: &mut Lookups<'_>,
    notes: &mut Notes,
) -> Result<LocalImages, Unresolved> {
    let mut found = LocalImages::default();
    let Some(workload) = request.workload.as_mut() else {
        return Ok(found);
    };
    for container in &mut workload.containers {
        let Some(wanted) = container.image.as_ref() else {
            continue;
        };
        if wanted.raw.trim().is_empty() || found.get(&wanted.raw).is_some() {
            continue;
        }
        let doc = match lookups.inspect(Object::Image, wanted.raw.trim()).await {
            Ok(Some(doc)) => doc,
            Ok(None) => continue,
            Err(e) => {
                return Err(Unresolved {
                    what: format!("image {:?}", wanted.raw),
                    why: e.to_string(),
                });
            }
        };
        let id = doc.get("Id").as_str().unwrap_or("an image").to_string();
        let pulled: Vec<_> = doc
            .get("RepoDigests")
            .as_array()
            .iter()
            .filter_map(|entry| entry.as_str().map(image::parse))
            .filter(|entry| entry.valid && entry.digest.is_some())
            .collect();
        let same_repository = pulled.iter().find(|entry| {
            wanted.valid
                && entry.registry == wanted.registry
                && entry.repository == wanted.repository
        });
        let local = match (same_repository, pulled.first()) {
            (Some(entry), _) => LocalImage::Digest(entry.digest.clone().unwrap_or_default()),
            (None, Some(origin)) => {
                notes.push(format!(
                    "image {:?} is the daemon's image {id}, which was pulled as {}",
                    wanted.raw, origin.raw
                ));
                let digest = origin.digest.clone().unwrap_or_default();
                container.image = Some(origin.clone());
                LocalImage::Digest(digest)
            }
            (None, None) => LocalImage::Unpulled { id },
        };
        let raw = container.image.as_ref().map_or("", |i| &i.raw).to_string();
        found.0.push((raw, local));
    }
    Ok(found)
}

//! Which image the daemon holds under each name a container create uses. dockerd creates a
//! container from its local image store: `docker run registry/app:1` runs whatever image is
//! tagged `registry/app:1` on this daemon (pulled earlier, or built, loaded, imported or
//! tagged from another image), not what the registry's tag points at now. Policies that ask
//! registries (`image-signatures`) are told the digest that image was pulled as, from the
//! daemon's `RepoDigests`, or that it was never pulled from that repository; a name the
//! daemon does not have is left to the registry (dockerd refuses that create, and
//! `docker run` pulls first, through this door).

use crate::abi::Request;
use crate::registry::{LocalImage, LocalImages};
use crate::workload::image;

use super::daemon::{Lookups, Object};
use super::references::Unresolved;

/// Looks up every container image of a create.
pub async fn look_up(
    request: &Request,
    lookups: &mut Lookups<'_>,
) -> Result<LocalImages, Unresolved> {
    let mut found = LocalImages::default();
    let images = request
        .workload
        .iter()
        .flat_map(|w| &w.containers)
        .filter_map(|c| c.image.as_ref())
        .filter(|i| i.valid);
    for wanted in images {
        if found.get(&wanted.raw).is_some() {
            continue;
        }
        let doc = match lookups.inspect(Object::Image, &wanted.raw).await {
            Ok(Some(doc)) => doc,
            Ok(None) => continue,
            Err(e) => {
                return Err(Unresolved {
                    what: format!("image {:?}", wanted.raw),
                    why: e.to_string(),
                });
            }
        };
        let pulled = doc.get("RepoDigests").as_array().iter().find_map(|entry| {
            let entry = image::parse(entry.as_str()?);
            (entry.registry == wanted.registry && entry.repository == wanted.repository)
                .then_some(entry.digest)
                .flatten()
        });
        let local = match pulled {
            Some(digest) => LocalImage::Digest(digest),
            None => LocalImage::Unpulled {
                id: doc.get("Id").as_str().unwrap_or("an image").to_string(),
            },
        };
        found.0.push((wanted.raw.clone(), local));
    }
    Ok(found)
}

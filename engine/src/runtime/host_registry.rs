//! The `registry` import of the policy ABI (1.1): a guest's questions go to the
//! [`Registry`](crate::registry::Registry) its grants carry, and the time they take is
//! remembered so the guest's deadline can be extended by it.

use std::time::Instant;

use wasmtime::component::{HasSelf, Linker};

use super::Host;
use crate::abi::portcullis::policy::registry::{
    self as abi, CosignCheck, Manifest, RegistryError, Signature,
};
use crate::registry::{self, LocalImage, Registry};

pub(super) fn add_to_linker(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    abi::add_to_linker::<Host, HasSelf<Host>>(linker, |host| host)
}

impl From<registry::RegistryError> for RegistryError {
    fn from(e: registry::RegistryError) -> Self {
        match e {
            registry::RegistryError::NotGranted => RegistryError::NotGranted,
            registry::RegistryError::Unreachable(m) => RegistryError::Unreachable(m),
            registry::RegistryError::Unauthorized(m) => RegistryError::Unauthorized(m),
            registry::RegistryError::NotFound(m) => RegistryError::NotFound(m),
            registry::RegistryError::Invalid(m) => RegistryError::Invalid(m),
        }
    }
}

impl Host {
    /// Runs `ask` against the granted registry, timing it.
    fn ask<T>(
        &mut self,
        ask: impl FnOnce(&Registry) -> Result<T, registry::RegistryError>,
    ) -> Result<T, RegistryError> {
        let Some(registry) = self.grants.registry.clone() else {
            return Err(RegistryError::NotGranted);
        };
        let started = Instant::now();
        let answer = ask(&registry);
        self.waited += started.elapsed();
        answer.map_err(RegistryError::from)
    }
}

impl abi::Host for Host {
    fn resolve(&mut self, image: String) -> Result<String, RegistryError> {
        // What the door says will run comes first: the daemon runs its local image, not
        // what the registry's tag points at.
        let context = self.grants.registry_context.clone();
        match context.as_ref().and_then(|c| c.local_images.get(&image)) {
            Some(LocalImage::Digest(digest)) if self.grants.registry.is_some() => {
                Ok(digest.clone())
            }
            Some(LocalImage::Unpulled { id }) if self.grants.registry.is_some() => {
                Err(RegistryError::NotFound(format!(
                    "the daemon's image {image} is {id}, which was not pulled from that \
                     repository (built, loaded, imported or tagged locally), so no registry \
                     digest or signature can stand for it"
                )))
            }
            _ => self.ask(|r| r.resolve(&image, context.as_deref())),
        }
    }

    fn fetch_manifest(&mut self, image: String) -> Result<Manifest, RegistryError> {
        let context = self.grants.registry_context.clone();
        self.ask(|r| r.manifest(&image, context.as_deref()))
            .map(|m| Manifest {
                digest: m.digest,
                media_type: m.media_type,
                content: m.content,
            })
    }

    fn signatures(
        &mut self,
        image: String,
        digest: String,
    ) -> Result<Vec<Signature>, RegistryError> {
        let context = self.grants.registry_context.clone();
        self.ask(|r| r.signatures(&image, &digest, context.as_deref()))
            .map(|found| {
                found
                    .iter()
                    .map(|s| Signature {
                        payload: s.payload.clone(),
                        signature: s.signature.clone(),
                        annotations: s.annotations.clone(),
                    })
                    .collect()
            })
    }

    fn verify_cosign(
        &mut self,
        image: String,
        digest: String,
        public_keys: Vec<String>,
    ) -> Result<CosignCheck, RegistryError> {
        let context = self.grants.registry_context.clone();
        self.ask(|r| r.verify_cosign(&image, &digest, &public_keys, context.as_deref()))
            .map(|check| CosignCheck {
                digest,
                found: check.found,
                verified: check.verified.clone(),
                other_digests: check.other_digests.clone(),
                problems: check.problems.clone(),
            })
    }

    fn insecure(&mut self, registry: String) -> bool {
        self.grants
            .registry
            .as_ref()
            .is_some_and(|r| r.insecure(&registry))
    }
}

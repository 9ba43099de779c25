//! A bounded map whose entries may expire: what a tag points at is kept for a while, what a
//! digest names is kept until room is needed. Evaluations on many threads read it, so a
//! read is one short lock and a clone of an `Arc`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Cache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    capacity: usize,
    ttl: Option<Duration>,
}

struct Entry<V> {
    value: Arc<V>,
    stored: Instant,
}

impl<K: Hash + Eq + Clone, V> Cache<K, V> {
    /// `ttl: None` keeps entries until the cache is full.
    pub fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(key)?;
        if self.ttl.is_some_and(|ttl| entry.stored.elapsed() >= ttl) {
            return None;
        }
        Some(entry.value.clone())
    }

    pub fn insert(&self, key: K, value: V) -> Arc<V> {
        let value = Arc::new(value);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            // Expired entries go first; if none has, the oldest one does. A scan is fine at
            // the sizes this holds (a thousand entries), and it only runs when full.
            if let Some(ttl) = self.ttl {
                entries.retain(|_, e| e.stored.elapsed() < ttl);
            }
            if entries.len() >= self.capacity
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.stored)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            Entry {
                value: value.clone(),
                stored: Instant::now(),
            },
        );
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cache_drops_its_oldest_entry() {
        let cache = Cache::new(2, None);
        cache.insert("a", 1);
        std::thread::sleep(Duration::from_millis(2));
        cache.insert("b", 2);
        cache.insert("c", 3);
        assert!(cache.get(&"a").is_none());
        assert_eq!(*cache.get(&"b").unwrap(), 2);
        assert_eq!(*cache.get(&"c").unwrap(), 3);
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = Cache::new(8, Some(Duration::from_millis(20)));
        cache.insert("tag", "sha256:1");
        assert!(cache.get(&"tag").is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get(&"tag").is_none());
    }
}

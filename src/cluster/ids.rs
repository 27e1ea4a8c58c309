//! Member and cluster IDs, derived exactly as etcd derives them so that a ringkv member
//! started with the same flags as an etcd member reports the same IDs (`etcdctl member list`,
//! response headers, Status).
//!
//! - member ID: the first 8 bytes (big-endian) of SHA-1 over the member's peer URLs, sorted
//!   and concatenated, then the cluster token, then (for members added at runtime) the
//!   Unix time in decimal;
//! - cluster ID: the first 8 bytes of SHA-1 over the sorted member IDs, each 8 bytes
//!   big-endian.

use sha1::{Digest, Sha1};

/// A member's ID from its peer URLs (as written in `--initial-cluster`), the cluster token
/// and, for members added at runtime, the Unix time of the addition.
pub fn member_id(peer_urls: &[&str], cluster_token: &str, added_at_unix: Option<i64>) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort_unstable();
    let mut hasher = Sha1::new();
    for url in urls {
        hasher.update(url.as_bytes());
    }
    hasher.update(cluster_token.as_bytes());
    if let Some(secs) = added_at_unix {
        hasher.update(secs.to_string().as_bytes());
    }
    first_8_bytes(&hasher.finalize())
}

/// The cluster ID from its members' IDs.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut hasher = Sha1::new();
    for id in ids {
        hasher.update(id.to_be_bytes());
    }
    first_8_bytes(&hasher.finalize())
}

fn first_8_bytes(digest: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]); // a SHA-1 digest is 20 bytes
    u64::from_be_bytes(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ids_etcd_3_4_23_reported() {
        // `etcd --initial-cluster default=http://127.0.0.1:24380` (token etcd-cluster) logged
        // local-member-id b5179d13d0285315, cluster-id 534a021c215e0774.
        let member = member_id(&["http://127.0.0.1:24380"], "etcd-cluster", None);
        assert_eq!(format!("{member:x}"), "b5179d13d0285315");
        assert_eq!(format!("{:x}", cluster_id(&[member])), "534a021c215e0774");
        // ETCD-CONTRACT.md §1.3: http://127.0.0.1:23800 + etcd-cluster.
        let member = member_id(&["http://127.0.0.1:23800"], "etcd-cluster", None);
        let cluster = cluster_id(&[member]);
        let ids = [format!("{member:x}"), format!("{cluster:x}")];
        assert!(ids.contains(&"2e1259d415f2a040".to_owned()), "{ids:?}");
        assert!(ids.contains(&"48276a8f75b6a87".to_owned()), "{ids:?}");
    }

    #[test]
    fn url_order_does_not_matter() {
        let a = member_id(&["http://a:2380", "http://b:2380"], "t", None);
        let b = member_id(&["http://b:2380", "http://a:2380"], "t", None);
        assert_eq!(a, b);
        assert_ne!(
            a,
            member_id(&["http://a:2380", "http://b:2380"], "other", None)
        );
        assert_ne!(
            a,
            member_id(&["http://a:2380", "http://b:2380"], "t", Some(1))
        );
        assert_eq!(cluster_id(&[1, 2]), cluster_id(&[2, 1]));
    }
}

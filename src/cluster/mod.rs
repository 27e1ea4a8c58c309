//! Cluster membership: who the members are and how they are named. Clustering itself
//! (adding and removing members through raft) is a later issue; IDs are settled now
//! because every response header carries them.

pub mod ids;

/// A bootstrap member from `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMember {
    pub name: String,
    pub id: u64,
    pub peer_urls: Vec<String>,
}

/// Groups `--initial-cluster` entries by name (a name may list several peer URLs, as in
/// etcd) and derives each member's ID; returns the members sorted by ID and the cluster ID.
pub fn initial_members(entries: &[(String, String)], token: &str) -> (Vec<InitialMember>, u64) {
    let mut members: Vec<InitialMember> = Vec::new();
    for (name, url) in entries {
        match members.iter_mut().find(|m| &m.name == name) {
            Some(member) => member.peer_urls.push(url.clone()),
            None => members.push(InitialMember {
                name: name.clone(),
                id: 0,
                peer_urls: vec![url.clone()],
            }),
        }
    }
    for member in &mut members {
        let urls: Vec<&str> = member.peer_urls.iter().map(String::as_str).collect();
        member.id = ids::member_id(&urls, token, None);
    }
    members.sort_by_key(|m| m.id);
    let cluster = ids::cluster_id(&members.iter().map(|m| m.id).collect::<Vec<_>>());
    (members, cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_member_with_two_urls() {
        let entries = [
            ("a".to_owned(), "http://10.0.0.1:2380".to_owned()),
            ("a".to_owned(), "http://10.0.0.2:2380".to_owned()),
        ];
        let (members, cluster) = initial_members(&entries, "etcd-cluster");
        assert_eq!(members.len(), 1);
        assert_eq!(
            members[0].id,
            ids::member_id(
                &["http://10.0.0.2:2380", "http://10.0.0.1:2380"],
                "etcd-cluster",
                None
            )
        );
        assert_eq!(cluster, ids::cluster_id(&[members[0].id]));
    }
}

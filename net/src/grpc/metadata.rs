//! Request metadata: the regular (non-pseudo) header fields of a call, names lowercase as
//! HTTP/2 requires. Kept as the decoded `Bytes`, so building it copies nothing.

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct Metadata {
    entries: Vec<(Bytes, Bytes)>,
}

impl Metadata {
    pub fn new() -> Self {
        Metadata::default()
    }

    pub fn insert(&mut self, name: Bytes, value: Bytes) {
        self.entries.push((name, value));
    }

    /// The first value of `name` (lowercase), as bytes.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.entries
            .iter()
            .find(|(n, _)| n.as_ref() == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The first value of `name`, when it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in arrival order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.as_ref() == name.as_bytes())
            .map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.entries.iter().map(|(n, v)| (n, v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        let mut md = Metadata::new();
        md.insert(Bytes::from_static(b"token"), Bytes::from_static(b"abc"));
        md.insert(Bytes::from_static(b"x"), Bytes::from_static(b"1"));
        md.insert(Bytes::from_static(b"x"), Bytes::from_static(b"2"));
        assert_eq!(md.get_str("token"), Some("abc"));
        assert_eq!(md.get_all("x").count(), 2);
        assert!(md.get("hasleader").is_none());
    }
}

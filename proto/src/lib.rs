//! ringkv-proto: etcd's v3 wire contract (placeholder; filled by the proto work of issue 2).

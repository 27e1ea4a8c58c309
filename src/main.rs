//! `ringkv`: an etcd-compatible key-value server. See README.md and ARCHITECTURE.md.

use ringkv::{logging, runtime, server};

fn main() {
    // Temporary argument handling until the etcd flag set lands.
    let mut options = server::ServeOptions {
        name: "default".into(),
        data_dir: "default.etcd".into(),
        listen_client_hosts: vec!["localhost:2379".into()],
        cores: runtime::cpus::allowed_cpus().map(|c| c.len()).unwrap_or(1),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--data-dir" => options.data_dir = args[i + 1].clone().into(),
            "--listen-client-urls" => {
                options.listen_client_hosts =
                    vec![args[i + 1].trim_start_matches("http://").to_owned()]
            }
            "--cores" => options.cores = args[i + 1].parse().unwrap_or(1),
            _ => {}
        }
        i += 2;
    }
    if let Err(e) = logging::init(tracing::Level::INFO, &[logging::LogOutput::Stderr]) {
        eprintln!("ringkv: cannot start logging: {e}");
        std::process::exit(1);
    }
    if let Err(e) = server::serve(options) {
        logging::fatal("ringkv stopped", &e.to_string());
        std::process::exit(1);
    }
}

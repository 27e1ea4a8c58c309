mod cli;
mod config;

use std::io::Write;

/// Placeholder entry point: parses the command line and reports; the server is not wired in
/// yet (the integrator replaces this).
fn main() {
    let code = match cli::parse(std::env::args(), std::env::vars()) {
        Ok(parsed) => {
            for warning in &parsed.warnings {
                eprintln!("{warning}");
            }
            match parsed.invocation {
                cli::Invocation::Server(_) => {
                    println!("parsed ok");
                    0
                }
                cli::Invocation::Print {
                    text,
                    exit_code,
                    stream,
                } => {
                    let _ = match stream {
                        cli::Stream::Stdout => std::io::stdout().write_all(text.as_bytes()),
                        cli::Stream::Stderr => std::io::stderr().write_all(text.as_bytes()),
                    };
                    exit_code
                }
            }
        }
        Err(err) => {
            eprint!("{}", err.stderr_text());
            err.exit_code()
        }
    };
    std::process::exit(code);
}

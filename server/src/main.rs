//! The `contango` binary: see [`contango::cli`].

fn main() -> std::process::ExitCode {
    contango::cli::main()
}

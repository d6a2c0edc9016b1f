fn main() -> std::process::ExitCode {
    contango::cli::main()
}

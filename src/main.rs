fn main() -> std::process::ExitCode {
    csp_onboard::cli::main()
}

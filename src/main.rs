fn main() -> std::process::ExitCode {
    csp_onboard::cli::main()
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

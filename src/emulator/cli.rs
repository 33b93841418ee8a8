use crate::error::ExitCode;

#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// The loopback port to listen on (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

pub fn run(_args: EmulatorArgs) -> ExitCode {
    eprintln!("error: the emulator is not built yet");
    ExitCode::Usage
}

//! The `tollgate` binary.

fn main() -> std::process::ExitCode {
    tollgate::run::main()
}

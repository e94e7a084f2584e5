//! The `tollgate` binary.

/// mimalloc rather than the system allocator: a served answer allocates and frees many small
/// JSON values, where glibc's malloc spent a quarter of a read's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tollgate::run::main()
}

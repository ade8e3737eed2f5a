fn main() -> std::process::ExitCode {
    earworm::cli::main()
}

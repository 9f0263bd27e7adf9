fn main() { eprintln!("containerd-shim-berth-v2: not built yet (see issue 6)"); std::process::exit(1) }

fn main() {
    eprintln!("strata: the broker is not built yet (see the issues)");
    std::process::exit(2);
}

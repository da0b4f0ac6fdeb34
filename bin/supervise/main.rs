//! supervise: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("supervise", "not built yet");
}

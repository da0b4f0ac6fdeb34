//! svstat: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("svstat", "not built yet");
}

//! multilog: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("multilog", "not built yet");
}

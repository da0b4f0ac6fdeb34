//! svc: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("svc", "not built yet");
}

//! invoker: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("invoker", "not built yet");
}

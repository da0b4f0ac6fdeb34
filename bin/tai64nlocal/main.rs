//! tai64nlocal: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("tai64nlocal", "not built yet");
}

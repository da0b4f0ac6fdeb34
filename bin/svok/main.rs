//! svok: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("svok", "not built yet");
}

//! svscan: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("svscan", "not built yet");
}

//! booster-drain: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("booster-drain", "not built yet");
}

//! booster: placeholder until the program lands.
fn main() {
    svkit::exit::fatal("booster", "not built yet");
}

# Thin wrapper: the real steps live in scripts/ so they are testable.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all test install demo bench
all:
	cargo build --release
test:
	scripts/test
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install
demo:
	scripts/demo
bench:
	scripts/bench

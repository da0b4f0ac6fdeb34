# Thin wrapper: the real steps live in scripts/ so they are testable.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all test install uninstall deb demo bench
all:
	cargo build --release
test:
	scripts/test
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install
uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/uninstall
deb:
	scripts/deb
demo:
	scripts/demo
bench:
	scripts/bench
